// VNCConfiguration: what one scanout's VNC server listens on and how clients authenticate.
import Display

public struct VNCConfiguration: Sendable, Equatable {
    /// IPv4 address to listen on ("127.0.0.1", "0.0.0.0" for all).
    public var host: String
    /// The RFB port of this scanout.
    public var port: Int
    /// A port for WebSocket clients (noVNC); 0: none. The RFB port takes WebSocket connections too.
    public var websocketPort: Int = 0
    /// VNC authentication (DES challenge, 8 significant characters); nil: none.
    public var password: String?
    /// PEM certificate and key for WebSocket over TLS (wss://); both or neither.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// The desktop name clients show.
    public var desktopName: String = "Vireo"
    /// Picture size while no guest shows anything (the blank screen).
    public var blankWidth: UInt32 = 640
    public var blankHeight: UInt32 = 480
    /// A client that takes no data for this long is dropped (it would otherwise hold libvncserver's send lock).
    public var clientTimeoutMilliseconds: Int32 = 10_000
    public var passwordThrottle = PasswordThrottle.Policy()
    /// Most viewers of this scanout at once (and most handshakes in progress); more connections are closed.
    public var maxClients = 64
    /// How long a copy into the framebuffer waits for viewers' sends in progress, so no update mixes two frames
    /// (docs/vnc.md: the frame guard). Past it the copy goes ahead; a viewer that slow may get one mixed update.
    public var sendWaitMilliseconds = 50

    public init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }
}
