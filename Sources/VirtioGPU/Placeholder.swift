// VirtioGPU: placeholder until its first file lands.
