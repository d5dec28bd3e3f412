"""acme_ao: example plugins for shmpipeline (kernel ``acme.clipped_gain``,
source ``acme.ramp``, sink ``acme.text_log``)."""

__all__ = ["endpoints", "kernels"]
