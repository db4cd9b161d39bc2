"""The classification tables that ship with scikit-learn, by the name a declaration's `[source] table`
gives: their feature columns (scikit-learn's names, folded into plain SQL names) and their number of
classes (labelled 0, 1, ...). Written out so that the DAG files, which read every declaration each time
they are parsed, need not import scikit-learn; a test holds them to scikit-learn's own."""

from __future__ import annotations

from typing import NamedTuple


class BundledTable(NamedTuple):
    features: tuple[str, ...]
    classes: int


BUNDLED_TABLES = {
    "breast_cancer": BundledTable(
        (
            "mean_radius",
            "mean_texture",
            "mean_perimeter",
            "mean_area",
            "mean_smoothness",
            "mean_compactness",
            "mean_concavity",
            "mean_concave_points",
            "mean_symmetry",
            "mean_fractal_dimension",
            "radius_error",
            "texture_error",
            "perimeter_error",
            "area_error",
            "smoothness_error",
            "compactness_error",
            "concavity_error",
            "concave_points_error",
            "symmetry_error",
            "fractal_dimension_error",
            "worst_radius",
            "worst_texture",
            "worst_perimeter",
            "worst_area",
            "worst_smoothness",
            "worst_compactness",
            "worst_concavity",
            "worst_concave_points",
            "worst_symmetry",
            "worst_fractal_dimension",
        ),
        2,
    ),
    "wine": BundledTable(
        (
            "alcohol",
            "malic_acid",
            "ash",
            "alcalinity_of_ash",
            "magnesium",
            "total_phenols",
            "flavanoids",
            "nonflavanoid_phenols",
            "proanthocyanins",
            "color_intensity",
            "hue",
            "od280_od315_of_diluted_wines",
            "proline",
        ),
        3,
    ),
    "iris": BundledTable(
        (
            "sepal_length_cm",
            "sepal_width_cm",
            "petal_length_cm",
            "petal_width_cm",
        ),
        3,
    ),
    "digits": BundledTable(tuple(f"pixel_{row}_{column}" for row in range(8) for column in range(8)), 10),
}
