/// Everything that can go wrong turning bytes into pixels or reading a preprocessing config.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Zero bytes of input.
    case empty
    /// Not PNG or JPEG (the string names what it looks like), or a PNG/JPEG variant we do not decode.
    case unsupportedFormat(String)
    /// The data claims to be PNG/JPEG but is broken; the string says where.
    case corrupt(String)
    /// The data stops before the image does.
    case truncated(String)
    /// The header declares an image over the decoder's `ImageLimits`; nothing was decoded.
    case tooLarge(width: Int, height: Int, limit: String)
    /// `preprocessor_config.json` is unreadable or asks for something unsupported.
    case invalidConfig(String)
    /// The codec library failed for a reason unrelated to the input (out of memory).
    case codecFailure(String)

    public var description: String {
        switch self {
        case .empty:
            return "image data is empty"
        case .unsupportedFormat(let what):
            return "unsupported image format: \(what) (PNG and JPEG are supported)"
        case .corrupt(let detail):
            return "corrupt image: \(detail)"
        case .truncated(let detail):
            return "truncated image: \(detail)"
        case .tooLarge(let width, let height, let limit):
            return "image is \(width)x\(height) pixels, over the limit (\(limit))"
        case .invalidConfig(let detail):
            return "invalid image preprocessing config: \(detail)"
        case .codecFailure(let detail):
            return "image codec failure: \(detail)"
        }
    }
}
