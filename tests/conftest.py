"""Settings shared by the whole suite."""

from hypothesis import settings

# The machine running CI has 2 shared cores and is noisy: a property test must
# fail on a wrong answer, never on a slow example, so no per-example deadline.
settings.register_profile("longwire", deadline=None, print_blob=True)
settings.load_profile("longwire")
