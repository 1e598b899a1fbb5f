// VhostUser: placeholder until its first file lands.
