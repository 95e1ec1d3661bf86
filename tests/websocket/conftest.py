"""Fixtures for the WebSocket core tests."""

import pytest
from ws_testing import C_APPLY_MASK

from longwire.websocket import _masking


@pytest.fixture(params=["python", "c"])
def apply_mask(request):
    """Each masking implementation in turn; the C one is skipped only if it was not built."""
    if request.param == "python":
        return _masking.apply_mask_python
    if C_APPLY_MASK is None:
        pytest.skip("longwire._speedups is not built (python setup.py build_ext --inplace)")
    return C_APPLY_MASK
