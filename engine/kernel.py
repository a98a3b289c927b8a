"""Names that moved to :mod:`engine.core` and :mod:`engine.models.one_year`, importable here
while the rest of the package moves to the layered folders."""

from __future__ import annotations

import numpy as np

from .core.reduce import (BLOCK, M_M2, M_MAX, M_MEAN, M_MIN, M_N, N_MOM, SK_ABS_ZERO,  # noqa: F401
                          SK_EMAX, SK_EMIN, SK_MB, SK_NBINS, SK_NPOS, SK_REL_ERROR, SK_ZERO,
                          merge_moments, merge_sketch, sketch_bin, sketch_bin_bounds,
                          sketch_bin_of, sparse_zeros)
from .core.runner import SUB  # noqa: F401
from .core.sampling import first_equal, input_sources
from .core.sampling import output_sources as _output_sources
from .models.one_year import (DEPRECIATION_CODES, N_OUT, O_CAPEX, O_GAP, O_REQ,  # noqa: F401
                              O_REQ_ANNUAL, O_REV, O_S2R, OUTPUTS, charge_rate, output_inputs)


def output_sources(codes: np.ndarray, params: np.ndarray, rev0: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, rate_src, out_src) of a one-year plan's arrays (see engine.core.sampling)."""
    src = input_sources(codes, params)
    names = tuple(range(codes.shape[1]))
    out_src = _output_sources(src, output_inputs(names, (0, rev0)))
    return src, first_equal(src[:, 3:rev0]), out_src
