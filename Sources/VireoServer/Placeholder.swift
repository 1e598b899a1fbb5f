// VireoServer: placeholder until its first file lands.
