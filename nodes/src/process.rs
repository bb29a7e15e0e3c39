//! Child processes the node's tools drive: the camera simulator, and CPU accounting from `/proc`.

use anyhow::{Context, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long the simulator may take to start (the first start encodes the clip).
const SIM_START_TIMEOUT: Duration = Duration::from_secs(300);

/// Options of a simulator child.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Cameras.
    pub cameras: usize,
    /// RTSP port.
    pub port: u16,
    /// `720p` or `1080p`.
    pub resolution: String,
    /// `plain` or `person`.
    pub scene: String,
    /// All cameras' keyframes at the same instant (default: spread over the keyframe interval).
    pub aligned: bool,
    /// `h264` or `h265`.
    pub codec: String,
    /// Audio the cameras send beside the video (`aac`, `pcmu`, `pcma`, `opus`); none by default.
    pub audio: Option<String>,
    /// Serve `rtsps://` only, with the certificate and key of this PEM file.
    pub tls_cert: Option<PathBuf>,
    /// Further `vms sim` arguments (`--bitrate 2000`, `--faults`).
    pub extra_args: Vec<String>,
    /// Run it on these CPUs only (`taskset -c` syntax: `1`, `0-3`), so a benchmark keeps it off the
    /// recorder's cores.
    pub cpus: Option<String>,
}

impl SimOptions {
    /// `cameras` 720p cameras of the plain scene on `port`, keyframes spread.
    pub fn plain(cameras: usize, port: u16) -> Self {
        Self {
            cameras,
            port,
            resolution: "720p".into(),
            scene: "plain".into(),
            aligned: false,
            codec: "h264".into(),
            audio: None,
            tls_cert: None,
            extra_args: Vec::new(),
            cpus: None,
        }
    }
}

/// A running `vms sim` child process, controlled through its standard input.
pub struct SimProcess {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    port: u16,
}

/// The `vms` executable: this process's, or the one beside it (`vms-bench` runs from the same
/// target folder).
pub fn vms_exe() -> anyhow::Result<PathBuf> {
    let this = std::env::current_exe().context("cannot find the vms executable")?;
    if this.file_stem().is_some_and(|stem| stem == "vms") {
        return Ok(this);
    }
    let beside = this.with_file_name(format!("vms{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        beside.is_file(),
        "{} not found: build it with `cargo build --release -p vms-node`",
        beside.display()
    );
    Ok(beside)
}

impl SimProcess {
    /// Starts `vms sim` from this executable.
    pub async fn start(opts: &SimOptions) -> anyhow::Result<Self> {
        Self::start_exe(&vms_exe()?, opts).await
    }

    /// Starts `<exe> sim` and waits until it serves.
    pub async fn start_exe(exe: &Path, opts: &SimOptions) -> anyhow::Result<Self> {
        let mut command = match &opts.cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", cpus]).arg(exe);
                taskset
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args([
                "sim",
                "--cameras",
                &opts.cameras.to_string(),
                "--port",
                &opts.port.to_string(),
            ])
            .args(["--resolution", &opts.resolution])
            .args(["--scene", &opts.scene])
            .args(["--codec", &opts.codec])
            .args(opts.audio.iter().flat_map(|a| ["--audio", a.as_str()]))
            .args(
                opts.tls_cert
                    .iter()
                    .flat_map(|c| [std::ffi::OsStr::new("--tls-cert"), c.as_os_str()]),
            )
            .args(opts.aligned.then_some("--aligned"))
            .args(&opts.extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} sim", exe.display()))?;
        let stdin = child.stdin.take().context("sim without stdin")?;
        let stdout = child.stdout.take().context("sim without stdout")?;
        let (tx, mut lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = tokio::time::timeout(SIM_START_TIMEOUT, async {
            while let Some(line) = lines.recv().await {
                if line.starts_with("ready") {
                    return Ok(());
                }
            }
            bail!(
                "simulator exited before serving (is port {} free?)",
                opts.port
            )
        })
        .await
        .context("simulator did not start in time")?;
        ready?;
        Ok(Self {
            child,
            stdin,
            lines,
            port: opts.port,
        })
    }

    /// RTSP URL of camera `i`.
    pub fn url(&self, i: usize) -> String {
        format!("rtsp://127.0.0.1:{}/cam{i}", self.port)
    }

    /// RTSP URL of a path on the simulator (e.g. `/mjpeg0`).
    pub fn url_of(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}{path}", self.port)
    }

    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends a command (`stop N`, `freeze N`, `resume N`) and waits for its acknowledgement.
    pub async fn command(&mut self, cmd: &str) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let answer = tokio::time::timeout(Duration::from_secs(10), self.lines.recv())
            .await
            .context("simulator did not answer")?
            .context("simulator exited")?;
        if !answer.starts_with("ok") {
            bail!("simulator refused {cmd:?}: {answer}");
        }
        Ok(())
    }

    /// Stops the simulator.
    pub async fn stop(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        if tokio::time::timeout(Duration::from_secs(3), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The command name and the fields after it of `/proc/<pid>/stat` (the first is the state).
fn proc_stat(pid: u32) -> anyhow::Result<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("no process {pid}"))?;
    let (head, rest) = stat.rsplit_once(')').context("malformed /proc stat")?;
    let comm = head.split_once('(').map_or("", |(_, c)| c).to_string();
    Ok((comm, rest.split_whitespace().map(str::to_string).collect()))
}

/// Sums fields of a `/proc/<pid>/stat` tail (0 = state, 11 = utime, 12 = stime, 13 = cutime, 14 =
/// cstime), in seconds.
fn ticks_seconds(fields: &[String], which: &[usize]) -> anyhow::Result<f64> {
    let hz = rustix::param::clock_ticks_per_second() as f64;
    let mut ticks = 0.0;
    for i in which {
        ticks += fields.get(*i).context("short /proc stat")?.parse::<f64>()?;
    }
    Ok(ticks / hz)
}

/// CPU time (user + system) a process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let (_, fields) = proc_stat(pid)?;
    ticks_seconds(&fields, &[11, 12])
}

/// CPU time so far of every process whose command name `include` accepts, keyed by pid, each with
/// the CPU of the children it has reaped (so a PostgreSQL backend that ends in the window still
/// counts, in its postmaster).
pub fn cpu_seconds_by_process(include: impl Fn(&str) -> bool) -> HashMap<u32, f64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (comm, fields) = proc_stat(pid).ok()?;
            include(&comm).then_some(())?;
            Some((pid, ticks_seconds(&fields, &[11, 12, 13, 14]).ok()?))
        })
        .collect()
}

/// CPU spent between two [`cpu_seconds_by_process`] snapshots: a process that started in between
/// counts from zero; one that ended in between counts in its parent, once reaped.
pub fn cpu_seconds_between(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(pid, now)| (now - before.get(pid).copied().unwrap_or(0.0)).max(0.0))
        .sum()
}

/// Resident memory of a process now, in MiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no process {pid}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS in /proc status")?
        .parse()?;
    Ok(kib / 1024.0)
}

/// Open file descriptors of a process now (entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("no process {pid}"))?
        .count())
}

/// Sends SIGTERM to a process.
pub fn terminate(pid: u32) {
    signal(pid, rustix::process::Signal::TERM);
}

/// Sends `sig` to process `pid` (errors ignored: it may be gone).
pub fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap_or(0)) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_is_readable() {
        let before = cpu_seconds(std::process::id()).expect("readable");
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let after = cpu_seconds(std::process::id()).expect("readable");
        assert!(after >= before);
        assert!(cpu_seconds(u32::MAX).is_err());
        let me = std::process::id();
        let own = cpu_seconds_by_process(|comm| comm.starts_with("vms_node"));
        assert!(
            own.contains_key(&me),
            "this test process is listed: {own:?}"
        );
        let mut later = own.clone();
        later.insert(me, own[&me] + 1.5);
        later.insert(u32::MAX, 0.5);
        assert!((cpu_seconds_between(&own, &later) - 2.0).abs() < 1e-9);
    }
}
