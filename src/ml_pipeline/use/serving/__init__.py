"""The scoring service: every dataset's champion over HTTP, following promotions without a restart."""
