"""Renders images/plate.png, the licence-plate test picture (needs Pillow and the DejaVu fonts)."""
from PIL import Image, ImageDraw, ImageFont

font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 64)
img = Image.new("RGB", (640, 360), (96, 100, 104))
d = ImageDraw.Draw(img)
d.rectangle([150, 140, 490, 230], fill=(245, 245, 240), outline=(20, 20, 20), width=4)
d.text((172, 150), "KA4721", font=font, fill=(15, 15, 15))
img.save("images/plate.png", optimize=True)
