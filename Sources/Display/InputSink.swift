// InputSink: where a display exporter (VNC) delivers the user's keyboard and pointer. The server wires it to the
// client's virtio-input device when one is connected (vhost-user input, `--input-socket`), otherwise to a sink
// that drops events and logs that once. Defined here, at the display model, so exporters need no device module.

/// Receives user input for one client's guest. Called from exporter threads; implementations lock what they share.
public protocol InputSink: Sendable {
    /// An RFB KeyEvent: an X11 keysym pressed (`down`) or released. Mapped to evdev codes for the US layout.
    func keysym(_ keysym: UInt32, down: Bool)
    /// QEMU's extended key event: the raw XT scancode (0xe0-prefixed keys as 0xe0XX) with the keysym the client
    /// also sent; layouts other than US work because the guest maps the scancode itself.
    func scancode(_ scancode: UInt32, keysym: UInt32, down: Bool)
    /// The pointer at (x, y) on `scanout`, whose picture is width x height, with the RFB button mask
    /// (bit 0 left, 1 middle, 2 right, 3 wheel up, 4 wheel down, 5 wheel left, 6 wheel right).
    func pointer(scanout: Int, x: Int, y: Int, width: Int, height: Int, buttons: UInt8)
    /// Clipboard text from a client (RFB ClientCutText), to be typed into the guest where that is possible.
    func clipboardText(_ text: String)
}
