"""P — data transfer."""
