//! Frames to input tensors: checks, resize (stretch or letterbox, bilinear), layout and normalisation;
//! and the mapping of boxes from network input back to the frame.

use crate::manifest::{Dtype, InputConfig, Layout, Resize};
use crate::{DetectorError, Frame};

/// Largest frame side accepted (8K).
pub const MAX_SIDE: u32 = 8192;

/// Tensor contents.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Bytes.
    U8(Vec<u8>),
    /// Floats.
    F32(Vec<f32>),
}

impl TensorData {
    /// Appends `more`, the next frame of a batch prepared by the same input settings (so of the
    /// same element type; another type is left out).
    pub fn append(&mut self, more: TensorData) {
        match (self, more) {
            (Self::U8(all), Self::U8(more)) => all.extend(more),
            (Self::F32(all), Self::F32(more)) => all.extend(more),
            _ => {}
        }
    }
}

/// Where the frame lies inside the network input, to map boxes back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Left padding, fraction of the input width.
    pub pad_x: f32,
    /// Top padding, fraction of the input height.
    pub pad_y: f32,
    /// Fraction of the input width the frame covers.
    pub span_x: f32,
    /// Fraction of the input height the frame covers.
    pub span_y: f32,
}

impl Placement {
    /// A box `[x0, y0, x1, y1]` in input fractions → frame fractions, clamped to `[0, 1]`.
    pub fn to_frame(&self, b: [f32; 4]) -> [f32; 4] {
        let x = |v: f32| ((v - self.pad_x) / self.span_x).clamp(0.0, 1.0);
        let y = |v: f32| ((v - self.pad_y) / self.span_y).clamp(0.0, 1.0);
        [x(b[0]), y(b[1]), x(b[2]), y(b[3])]
    }
}

/// A prepared input: data, `[N, …]` shape and placement.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Contents.
    pub data: TensorData,
    /// Shape, batch of one.
    pub shape: [usize; 4],
    /// Placement of the frame in the input.
    pub placement: Placement,
}

/// Checks a frame's size and buffer.
pub fn check_frame(frame: &Frame<'_>) -> Result<(), DetectorError> {
    if frame.width == 0 || frame.height == 0 {
        return Err(DetectorError::InvalidFrame("frame has no pixels".into()));
    }
    if frame.width > MAX_SIDE || frame.height > MAX_SIDE {
        return Err(DetectorError::InvalidFrame(format!(
            "frame {}x{} is larger than {MAX_SIDE}x{MAX_SIDE}",
            frame.width, frame.height
        )));
    }
    let want = frame.width as usize * frame.height as usize * 3;
    if frame.rgb.len() != want {
        return Err(DetectorError::InvalidFrame(format!(
            "frame {}x{} needs {want} RGB bytes, got {}",
            frame.width,
            frame.height,
            frame.rgb.len()
        )));
    }
    Ok(())
}

/// Bilinear resize of packed RGB8 into `out` (`w * h * 3`).
fn resize_into(
    frame: &Frame<'_>,
    w: usize,
    h: usize,
    out: &mut [u8],
    out_stride: usize,
    x0: usize,
    y0: usize,
) {
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    let fx = sw as f32 / w as f32;
    let fy = sh as f32 / h as f32;
    for y in 0..h {
        let syf = ((y as f32 + 0.5) * fy - 0.5).clamp(0.0, (sh - 1) as f32);
        let sy0 = syf as usize;
        let sy1 = (sy0 + 1).min(sh - 1);
        let wy = syf - sy0 as f32;
        for x in 0..w {
            let sxf = ((x as f32 + 0.5) * fx - 0.5).clamp(0.0, (sw - 1) as f32);
            let sx0 = sxf as usize;
            let sx1 = (sx0 + 1).min(sw - 1);
            let wx = sxf - sx0 as f32;
            let o = ((y0 + y) * out_stride + x0 + x) * 3;
            for c in 0..3 {
                let p = |yy: usize, xx: usize| f32::from(frame.rgb[(yy * sw + xx) * 3 + c]);
                let top = p(sy0, sx0) * (1.0 - wx) + p(sy0, sx1) * wx;
                let bottom = p(sy1, sx0) * (1.0 - wx) + p(sy1, sx1) * wx;
                out[o + c] = (top * (1.0 - wy) + bottom * wy).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Fits a frame to `input` and lays it out as the model wants.
pub fn prepare(frame: &Frame<'_>, input: &InputConfig) -> Result<Prepared, DetectorError> {
    check_frame(frame)?;
    let (iw, ih) = (input.width as usize, input.height as usize);
    let mut rgb = vec![114u8; iw * ih * 3];
    let placement = match input.resize {
        Resize::Stretch => {
            resize_into(frame, iw, ih, &mut rgb, iw, 0, 0);
            Placement {
                pad_x: 0.0,
                pad_y: 0.0,
                span_x: 1.0,
                span_y: 1.0,
            }
        }
        Resize::Letterbox => {
            let scale = (iw as f32 / frame.width as f32).min(ih as f32 / frame.height as f32);
            let w = ((frame.width as f32 * scale).round() as usize).clamp(1, iw);
            let h = ((frame.height as f32 * scale).round() as usize).clamp(1, ih);
            let (x0, y0) = ((iw - w) / 2, (ih - h) / 2);
            resize_into(frame, w, h, &mut rgb, iw, x0, y0);
            Placement {
                pad_x: x0 as f32 / iw as f32,
                pad_y: y0 as f32 / ih as f32,
                span_x: w as f32 / iw as f32,
                span_y: h as f32 / ih as f32,
            }
        }
    };
    let shape = match input.layout {
        Layout::Nhwc => [1, ih, iw, 3],
        Layout::Nchw => [1, 3, ih, iw],
    };
    let data = match (input.dtype, input.layout) {
        (Dtype::U8, Layout::Nhwc) => TensorData::U8(rgb),
        (Dtype::U8, Layout::Nchw) => TensorData::U8(planar(&rgb, iw * ih, |v, _| v)),
        (Dtype::F32, layout) => {
            let norm = |v: u8, c: usize| (f32::from(v) / 255.0 - input.mean[c]) / input.std[c];
            match layout {
                Layout::Nhwc => TensorData::F32(
                    rgb.iter()
                        .enumerate()
                        .map(|(i, v)| norm(*v, i % 3))
                        .collect(),
                ),
                Layout::Nchw => TensorData::F32(planar(&rgb, iw * ih, norm)),
            }
        }
    };
    Ok(Prepared {
        data,
        shape,
        placement,
    })
}

/// Interleaved RGB → three planes, mapping each value with its channel.
fn planar<T: Copy + Default>(rgb: &[u8], pixels: usize, f: impl Fn(u8, usize) -> T) -> Vec<T> {
    let mut out = vec![T::default(); pixels * 3];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * pixels + i] = f(px[c], c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Dtype, Layout, Resize};

    fn input(resize: Resize, layout: Layout, dtype: Dtype) -> InputConfig {
        InputConfig {
            width: 4,
            height: 4,
            layout,
            dtype,
            resize,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    #[test]
    fn letterbox_pads_and_maps_boxes_back() {
        let rgb = vec![200u8; 8 * 4 * 3]; // 8x4: wide
        let frame = Frame {
            width: 8,
            height: 4,
            rgb: &rgb,
        };
        let p = prepare(&frame, &input(Resize::Letterbox, Layout::Nhwc, Dtype::U8)).unwrap();
        assert_eq!(p.shape, [1, 4, 4, 3]);
        assert_eq!(p.placement.pad_y, 0.25);
        let TensorData::U8(d) = &p.data else { panic!() };
        assert_eq!(d[0], 114, "top row is padding");
        assert_eq!(d[4 * 3], 200, "second row is picture");
        let b = p.placement.to_frame([0.0, 0.25, 1.0, 0.75]);
        assert_eq!(b, [0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn planar_float_normalises() {
        let rgb = [255u8, 0, 0].repeat(16);
        let frame = Frame {
            width: 4,
            height: 4,
            rgb: &rgb,
        };
        let p = prepare(&frame, &input(Resize::Stretch, Layout::Nchw, Dtype::F32)).unwrap();
        let TensorData::F32(d) = &p.data else {
            panic!()
        };
        assert_eq!((d[0], d[16], d[32]), (1.0, 0.0, 0.0));
    }

    #[test]
    fn bad_frames_are_refused() {
        let i = input(Resize::Stretch, Layout::Nhwc, Dtype::U8);
        assert!(
            prepare(
                &Frame {
                    width: 0,
                    height: 4,
                    rgb: &[]
                },
                &i
            )
            .is_err()
        );
        assert!(
            prepare(
                &Frame {
                    width: 2,
                    height: 2,
                    rgb: &[0; 5]
                },
                &i
            )
            .is_err()
        );
        assert!(
            prepare(
                &Frame {
                    width: 9000,
                    height: 2,
                    rgb: &[]
                },
                &i
            )
            .is_err()
        );
    }
}
