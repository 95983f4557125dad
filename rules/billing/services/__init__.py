"""The billing connector's writes: integration settings, receiving and processing deliveries."""
