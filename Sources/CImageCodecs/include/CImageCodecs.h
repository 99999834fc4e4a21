// C shims over libjpeg and libpng for the Imaging module.
//
// Both libraries report fatal errors by longjmp-ing out of a callback, which Swift cannot do (or survive).
// Every function here installs its own setjmp-based error handler, so errors come back as a status code
// plus a message, and no libjpeg/libpng state outlives the call.
#ifndef MNEME_IMAGE_CODECS_H
#define MNEME_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MNEME_CODEC_OK = 0,
    /// The data is not a valid image of the claimed format (message says why).
    MNEME_CODEC_CORRUPT = 1,
    /// The data ends before the image does.
    MNEME_CODEC_TRUNCATED = 2,
    /// A valid image this shim does not decode (e.g. an unusual JPEG colour space).
    MNEME_CODEC_UNSUPPORTED = 3,
    MNEME_CODEC_OUT_OF_MEMORY = 4,
    /// The caller's arguments do not match the image (size of the output buffer, dimensions).
    MNEME_CODEC_BAD_ARGUMENT = 5,
} mneme_codec_status;

/// What the header of an image says, read without decoding any pixels.
typedef struct {
    int width;
    int height;
    /// Samples per pixel stored in the file (JPEG components, PNG channels).
    int components;
    /// Bits per sample (JPEG: 8 or 12; PNG: 1, 2, 4, 8 or 16).
    int bit_depth;
    /// PNG: an alpha channel or a tRNS chunk is present. JPEG: always 0.
    int has_alpha;
    /// JPEG: progressive (multi-scan) coding. PNG: Adam7 interlacing.
    int is_progressive;
    /// JPEG: libjpeg's J_COLOR_SPACE of the file. PNG: the IHDR colour type.
    int color_type;
} mneme_image_header;

/// Reads the JPEG header (markers up to the first scan). Allocates nothing that depends on the image size.
mneme_codec_status mneme_jpeg_read_header(const uint8_t *data, size_t size, mneme_image_header *header,
                                          char *message, size_t message_capacity);

/// Decodes a JPEG into `out`, `width * height * 3` bytes of interleaved 8-bit RGB. Greyscale is replicated;
/// CMYK/YCCK is converted with Pillow's formula (samples taken as Adobe-inverted, as Pillow does).
/// `width`/`height` must be what `mneme_jpeg_read_header` returned. Truncated data is an error, and so is
/// a file with more than `max_scans` scans (each progressive scan costs a pass over the whole image, so a
/// small file with thousands of scans is a known denial-of-service pattern).
mneme_codec_status mneme_jpeg_decode_rgb(const uint8_t *data, size_t size, int width, int height, int max_scans,
                                         uint8_t *out, size_t out_size, char *message, size_t message_capacity);

/// Encodes interleaved 8-bit RGB as a baseline JPEG (4:2:0, `quality` 1...100). On success `*out` is a
/// malloc'd buffer of `*out_size` bytes that the caller releases with `mneme_codec_free`.
mneme_codec_status mneme_jpeg_encode_rgb(const uint8_t *pixels, int width, int height, int quality,
                                         uint8_t **out, size_t *out_size, char *message, size_t message_capacity);

/// Reads the PNG header (signature, IHDR and the chunks before the first IDAT).
mneme_codec_status mneme_png_read_header(const uint8_t *data, size_t size, mneme_image_header *header,
                                         char *message, size_t message_capacity);

/// Decodes a PNG into `out` as interleaved 8-bit samples: RGBA (4 bytes per pixel) when `keep_alpha` is set
/// and the image has alpha (a channel or tRNS), otherwise RGB (3 bytes, alpha and tRNS ignored).
/// 16-bit samples keep their high byte; 1/2/4-bit grey is scaled to 0...255; palettes are expanded.
/// `*channels_out` receives 3 or 4.
mneme_codec_status mneme_png_decode(const uint8_t *data, size_t size, int width, int height, int keep_alpha,
                                    uint8_t *out, size_t out_size, int *channels_out,
                                    char *message, size_t message_capacity);

/// Encodes interleaved 8-bit RGB as a non-interlaced PNG. Ownership of `*out` as for `mneme_jpeg_encode_rgb`.
mneme_codec_status mneme_png_encode_rgb(const uint8_t *pixels, int width, int height,
                                        uint8_t **out, size_t *out_size, char *message, size_t message_capacity);

/// Releases a buffer returned by one of the encoders.
void mneme_codec_free(void *buffer);

#ifdef __cplusplus
}
#endif

#endif
