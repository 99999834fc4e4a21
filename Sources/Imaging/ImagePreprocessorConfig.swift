import Foundation

/// Image preprocessing parameters, decoded straight from a Hugging Face `preprocessor_config.json`.
///
/// Absent keys (or `null`) take the defaults of transformers' `CLIPImageProcessor`: resize the shortest
/// edge to 224 with bicubic resampling, centre-crop 224 x 224, rescale by 1/255, normalise with OpenAI
/// CLIP's mean and standard deviation. Keys we do not use (`image_processor_type`, `processor_class`, ...)
/// are ignored. Decoding validates the values, so a decoded config can always be used.
public struct ImagePreprocessorConfig: Codable, Sendable, Equatable {
    /// A size as transformers' `SizeDict` holds it; which fields are set selects the resize rule.
    public struct Size: Codable, Sendable, Equatable {
        public var height: Int?
        public var width: Int?
        public var shortestEdge: Int?
        public var longestEdge: Int?
        public var maxHeight: Int?
        public var maxWidth: Int?

        public init(height: Int? = nil, width: Int? = nil, shortestEdge: Int? = nil, longestEdge: Int? = nil,
                    maxHeight: Int? = nil, maxWidth: Int? = nil) {
            self.height = height
            self.width = width
            self.shortestEdge = shortestEdge
            self.longestEdge = longestEdge
            self.maxHeight = maxHeight
            self.maxWidth = maxWidth
        }

        enum CodingKeys: String, CodingKey {
            case height, width
            case shortestEdge = "shortest_edge"
            case longestEdge = "longest_edge"
            case maxHeight = "max_height"
            case maxWidth = "max_width"
        }
    }

    public static let openAICLIPMean = [0.48145466, 0.4578275, 0.40821073]
    public static let openAICLIPStd = [0.26862954, 0.26130258, 0.27577711]

    // As found in the file (nil = absent); the public properties below supply the defaults.
    var storedDoResize: Bool?
    var storedSize: Size?
    var storedResample: ResamplingFilter?
    var storedDoCenterCrop: Bool?
    var storedCropSize: Size?
    var storedDoRescale: Bool?
    var storedRescaleFactor: Double?
    var storedDoNormalize: Bool?
    var storedImageMean: [Double]?
    var storedImageStd: [Double]?
    var storedDoConvertRGB: Bool?

    public var doResize: Bool {
        get { storedDoResize ?? true }
        set { storedDoResize = newValue }
    }
    public var size: Size {
        get { storedSize ?? Size(shortestEdge: 224) }
        set { storedSize = newValue }
    }
    public var resample: ResamplingFilter {
        get { storedResample ?? .bicubic }
        set { storedResample = newValue }
    }
    public var doCenterCrop: Bool {
        get { storedDoCenterCrop ?? true }
        set { storedDoCenterCrop = newValue }
    }
    public var cropSize: Size {
        get { storedCropSize ?? Size(height: 224, width: 224) }
        set { storedCropSize = newValue }
    }
    public var doRescale: Bool {
        get { storedDoRescale ?? true }
        set { storedDoRescale = newValue }
    }
    public var rescaleFactor: Double {
        get { storedRescaleFactor ?? 1.0 / 255.0 }
        set { storedRescaleFactor = newValue }
    }
    public var doNormalize: Bool {
        get { storedDoNormalize ?? true }
        set { storedDoNormalize = newValue }
    }
    /// Per channel (R, G, B); a scalar in the file applies to all three.
    public var imageMean: [Double] {
        get { storedImageMean ?? Self.openAICLIPMean }
        set { storedImageMean = newValue }
    }
    public var imageStd: [Double] {
        get { storedImageStd ?? Self.openAICLIPStd }
        set { storedImageStd = newValue }
    }
    /// Kept for completeness: decoded images are always RGB already (see `AlphaHandling`).
    public var doConvertRGB: Bool {
        get { storedDoConvertRGB ?? true }
        set { storedDoConvertRGB = newValue }
    }

    /// CLIP's defaults for everything not given.
    public init(doResize: Bool? = nil, size: Size? = nil, resample: ResamplingFilter? = nil,
                doCenterCrop: Bool? = nil, cropSize: Size? = nil, doRescale: Bool? = nil,
                rescaleFactor: Double? = nil, doNormalize: Bool? = nil, imageMean: [Double]? = nil,
                imageStd: [Double]? = nil, doConvertRGB: Bool? = nil) {
        storedDoResize = doResize
        storedSize = size
        storedResample = resample
        storedDoCenterCrop = doCenterCrop
        storedCropSize = cropSize
        storedDoRescale = doRescale
        storedRescaleFactor = rescaleFactor
        storedDoNormalize = doNormalize
        storedImageMean = imageMean
        storedImageStd = imageStd
        storedDoConvertRGB = doConvertRGB
    }

    enum CodingKeys: String, CodingKey {
        case storedDoResize = "do_resize"
        case storedSize = "size"
        case storedResample = "resample"
        case storedDoCenterCrop = "do_center_crop"
        case storedCropSize = "crop_size"
        case storedDoRescale = "do_rescale"
        case storedRescaleFactor = "rescale_factor"
        case storedDoNormalize = "do_normalize"
        case storedImageMean = "image_mean"
        case storedImageStd = "image_std"
        case storedDoConvertRGB = "do_convert_rgb"
        case defaultToSquare = "default_to_square"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        storedDoResize = try container.decodeIfPresent(Bool.self, forKey: .storedDoResize)
        storedResample = try container.decodeIfPresent(ResamplingFilter.self, forKey: .storedResample)
        storedDoCenterCrop = try container.decodeIfPresent(Bool.self, forKey: .storedDoCenterCrop)
        storedDoRescale = try container.decodeIfPresent(Bool.self, forKey: .storedDoRescale)
        storedRescaleFactor = try container.decodeIfPresent(Double.self, forKey: .storedRescaleFactor)
        storedDoNormalize = try container.decodeIfPresent(Bool.self, forKey: .storedDoNormalize)
        storedDoConvertRGB = try container.decodeIfPresent(Bool.self, forKey: .storedDoConvertRGB)
        storedImageMean = try Self.decodeChannels(container, .storedImageMean)
        storedImageStd = try Self.decodeChannels(container, .storedImageStd)
        // transformers' get_size_dict: an int `size` is the shortest edge for CLIP (default_to_square is
        // False) and a square otherwise; an int `crop_size` is always a square; a pair is (height, width).
        let defaultToSquare = try container.decodeIfPresent(Bool.self, forKey: .defaultToSquare) ?? false
        storedSize = try Self.decodeSize(container, .storedSize, integerIsSquare: defaultToSquare)
        storedCropSize = try Self.decodeSize(container, .storedCropSize, integerIsSquare: true)
        if let problem = validationProblem {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(storedDoResize, forKey: .storedDoResize)
        try container.encodeIfPresent(storedSize, forKey: .storedSize)
        try container.encodeIfPresent(storedResample, forKey: .storedResample)
        try container.encodeIfPresent(storedDoCenterCrop, forKey: .storedDoCenterCrop)
        try container.encodeIfPresent(storedCropSize, forKey: .storedCropSize)
        try container.encodeIfPresent(storedDoRescale, forKey: .storedDoRescale)
        try container.encodeIfPresent(storedRescaleFactor, forKey: .storedRescaleFactor)
        try container.encodeIfPresent(storedDoNormalize, forKey: .storedDoNormalize)
        try container.encodeIfPresent(storedImageMean, forKey: .storedImageMean)
        try container.encodeIfPresent(storedImageStd, forKey: .storedImageStd)
        try container.encodeIfPresent(storedDoConvertRGB, forKey: .storedDoConvertRGB)
    }

    private static func decodeChannels(_ container: KeyedDecodingContainer<CodingKeys>,
                                       _ key: CodingKeys) throws -> [Double]? {
        if let scalar = try? container.decodeIfPresent(Double.self, forKey: key) {
            return [scalar, scalar, scalar]
        }
        return try container.decodeIfPresent([Double].self, forKey: key)
    }

    private static func decodeSize(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys,
                                   integerIsSquare: Bool) throws -> Size? {
        if let scalar = try? container.decodeIfPresent(Int.self, forKey: key) {
            return integerIsSquare ? Size(height: scalar, width: scalar) : Size(shortestEdge: scalar)
        }
        if let pair = try? container.decodeIfPresent([Int].self, forKey: key) {
            guard pair.count == 2 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container,
                                                       debugDescription: "expected [height, width]")
            }
            return Size(height: pair[0], width: pair[1])
        }
        return try container.decodeIfPresent(Size.self, forKey: key)
    }

    /// Why this config cannot be used, or nil.
    public var validationProblem: String? {
        if doResize {
            let size = self.size
            let positive = [size.height, size.width, size.shortestEdge, size.longestEdge, size.maxHeight,
                            size.maxWidth].allSatisfy { $0 == nil || $0! > 0 }
            let usable = size.shortestEdge != nil || (size.maxHeight != nil && size.maxWidth != nil)
                || (size.height != nil && size.width != nil)
            if !positive || !usable {
                return "size must give shortest_edge (optionally longest_edge), height and width, "
                    + "or max_height and max_width, all positive; got \(size)"
            }
        }
        if doCenterCrop {
            guard let height = cropSize.height, let width = cropSize.width, height > 0, width > 0 else {
                return "crop_size must give a positive height and width; got \(cropSize)"
            }
        }
        if doRescale && !rescaleFactor.isFinite {
            return "rescale_factor must be finite"
        }
        if doNormalize {
            if imageMean.count != 3 || imageStd.count != 3 {
                return "image_mean and image_std need 3 values (or one); got \(imageMean) and \(imageStd)"
            }
            if imageStd.contains(0) || !(imageMean + imageStd).allSatisfy(\.isFinite) {
                return "image_mean and image_std must be finite, and image_std non-zero"
            }
        }
        return nil
    }

    public static let fileName = "preprocessor_config.json"

    /// Reads `preprocessor_config.json` from a model directory; CLIP's defaults when there is none.
    public static func load(from directory: URL) throws -> ImagePreprocessorConfig {
        let file = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: file.path) else {
            return ImagePreprocessorConfig()
        }
        do {
            return try JSONDecoder().decode(ImagePreprocessorConfig.self, from: Data(contentsOf: file))
        } catch let error as DecodingError {
            throw ImageError.invalidConfig("\(file.path): \(describe(error))")
        } catch {
            throw ImageError.invalidConfig("\(file.path): \(error.localizedDescription)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context),
             .valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
