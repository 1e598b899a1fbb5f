// VireoTestSupport: placeholder until its first file lands.
