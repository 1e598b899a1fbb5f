// The system's libvncserver (Debian: libvncserver-dev), found through pkg-config. Swift code does not import this
// module directly: CVNCServer wraps what the Clang importer drops.
#include <rfb/rfb.h>
