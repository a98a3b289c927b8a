"""Plans are built in :mod:`engine.core.plan` for the models of :mod:`engine.models`."""

from .core.layout import Layout  # noqa: F401
from .core.plan import Plan, pack_points  # noqa: F401
from .models import make_plan  # noqa: F401
from .models.one_year import LAYOUT as ONE_YEAR_LAYOUT  # noqa: F401
