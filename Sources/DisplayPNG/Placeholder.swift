// DisplayPNG: placeholder until its first file lands.
