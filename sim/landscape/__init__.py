"""The lecture example of ResNets as ODE discretizations (Haber & Ruthotto 2017), run by
`python -m sim.grid --preset landscape`: the model and its roughness measures (`sim.landscape.model`)
and the preset's command (`sim.landscape.command`)."""

from sim.landscape.command import main, requested
from sim.landscape.model import (
    COLUMNS,
    CSV_NAME,
    JSON_NAME,
    PRESET,
    PRESET_LANDSCAPE,
    UNSTABLE_TOL,
    LandscapeSpec,
    Table,
    eigenvalues,
    final_state,
    growth,
    initial_state,
    landscape_table,
    lecture_matrix,
    local_growth,
    local_minima,
    objective,
    reference_target,
    roughness,
    stability_function,
    strict_minima,
    surface,
    total_variation,
    unstable_fraction,
    write_csv,
)

__all__ = [
    "COLUMNS", "CSV_NAME", "JSON_NAME", "LandscapeSpec", "PRESET", "PRESET_LANDSCAPE", "Table", "UNSTABLE_TOL",
    "eigenvalues", "final_state", "growth", "initial_state", "landscape_table", "lecture_matrix",
    "local_growth", "local_minima", "main", "objective", "reference_target", "requested", "roughness",
    "stability_function", "strict_minima", "surface", "total_variation", "unstable_fraction", "write_csv",
]
