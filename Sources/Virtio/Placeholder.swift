// Virtio: placeholder until its first file lands.
