"""Draw the integration's brand images into custom_components/smartpower_terminal/brand/.

    python scripts/brand_images.py        (needs Pillow; the dev venv has it through HA)

Home Assistant 2026.3+ serves a custom integration's own ``brand/`` folder (HACS shows it too):
``icon.png`` 256×256 and ``icon@2x.png`` 512×512 (square), ``logo.png`` and ``logo@2x.png``
(landscape, shortest side 128 and 256 px), PNG with a transparent background, trimmed.
scripts/lint checks the sizes. The drawing: a rounded square with a lightning bolt over a meter
dial; the logo adds the name. Everything is drawn at 4× and scaled down (anti-aliasing).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parents[1] / "custom_components" / "smartpower_terminal" / "brand"
BLUE = (11, 95, 165, 255)
DEEP = (7, 61, 110, 255)
AMBER = (255, 193, 7, 255)
WHITE = (255, 255, 255, 255)
INK = (33, 43, 54, 255)
SUPER = 4


def icon(size: int) -> Image.Image:
    """The mark: rounded square, dial arc with ticks, lightning bolt."""
    s = size * SUPER
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, s - 1, s - 1), radius=s * 0.22, fill=BLUE)
    # A darker lower band: the panel the terminal sits in.
    band = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    ImageDraw.Draw(band).rounded_rectangle((0, 0, s - 1, s - 1), radius=s * 0.22, fill=DEEP)
    mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(mask).rectangle((0, int(s * 0.78), s, s), fill=255)
    image.paste(band, (0, 0), mask)
    # Dial: an arc from 210° to -30° with ticks, like a meter's scale.
    cx, cy, r = s * 0.5, s * 0.56, s * 0.34
    width = max(2, int(s * 0.045))
    draw.arc((cx - r, cy - r, cx + r, cy + r), start=150, end=390, fill=WHITE, width=width)
    for i in range(9):
        angle = math.radians(150 + i * 30)
        inner = r - s * (0.1 if i % 2 == 0 else 0.075)
        x0, y0 = cx + inner * math.cos(angle), cy + inner * math.sin(angle)
        x1, y1 = cx + (r - width / 2) * math.cos(angle), cy + (r - width / 2) * math.sin(angle)
        draw.line((x0, y0, x1, y1), fill=WHITE, width=max(2, int(s * 0.025)))
    # Lightning bolt, centred on the dial.
    bolt = [(0.56, 0.18), (0.36, 0.58), (0.49, 0.58), (0.43, 0.86), (0.66, 0.45), (0.53, 0.45),
            (0.60, 0.18)]  # fmt: skip
    draw.polygon([(x * s, y * s) for x, y in bolt], fill=AMBER)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int) -> Image.Image:
    """The mark and the name beside it, trimmed."""
    h = height * SUPER
    mark = icon(height).resize((h, h), Image.Resampling.LANCZOS)
    font_big = ImageFont.load_default(size=int(h * 0.42))
    font_small = ImageFont.load_default(size=int(h * 0.2))
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    name_box = probe.textbbox((0, 0), "SmartPower", font=font_big)
    sub_box = probe.textbbox((0, 0), "Terminal", font=font_small)
    gap = int(h * 0.16)
    width = h + gap + max(name_box[2], sub_box[2]) + int(h * 0.04)
    image = Image.new("RGBA", (width, h), (0, 0, 0, 0))
    image.paste(mark, (0, 0), mark)
    draw = ImageDraw.Draw(image)
    x = h + gap
    draw.text((x, int(h * 0.12) - name_box[1]), "SmartPower", font=font_big, fill=INK)
    draw.text((x, int(h * 0.64) - sub_box[1]), "Terminal", font=font_small, fill=BLUE)
    trimmed = image.crop(image.getbbox())
    scale = height / trimmed.height
    return trimmed.resize((round(trimmed.width * scale), height), Image.Resampling.LANCZOS)


def main() -> int:
    BRAND.mkdir(parents=True, exist_ok=True)
    images = {
        "icon.png": icon(256),
        "icon@2x.png": icon(512),
        "logo.png": logo(128),
        "logo@2x.png": logo(256),
    }
    for name, image in images.items():
        image.save(BRAND / name, optimize=True)
        print(f"{BRAND / name}: {image.width}×{image.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
