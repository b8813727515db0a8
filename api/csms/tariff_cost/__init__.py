"""I — tariff and cost."""
