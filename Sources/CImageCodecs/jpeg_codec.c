// libjpeg wrapper: setjmp-based error manager, in-memory decode and encode.
#include "CImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/// libjpeg's error manager plus where to jump on a fatal error and what to report.
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    mneme_codec_status status;
    /// Set when the source ran dry and libjpeg inserted a fake EOI (JWRN_JPEG_EOF).
    int saw_end_of_data;
    char text[JMSG_LENGTH_MAX];
} jpeg_failure;

static void copy_message(char *message, size_t capacity, const char *text) {
    if (message != NULL && capacity > 0) {
        snprintf(message, capacity, "%s", text);
    }
}

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_failure *failure = (jpeg_failure *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, failure->text);
    switch (cinfo->err->msg_code) {
    case JERR_OUT_OF_MEMORY:
        failure->status = MNEME_CODEC_OUT_OF_MEMORY;
        break;
    case JERR_BAD_PRECISION:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_NOT_COMPILED:
        failure->status = MNEME_CODEC_UNSUPPORTED;
        break;
    default:
        // An error right after the data ran out is the truncation, whatever libjpeg calls it.
        failure->status = failure->saw_end_of_data ? MNEME_CODEC_TRUNCATED : MNEME_CODEC_CORRUPT;
    }
    longjmp(failure->jump, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) {  // a warning: corrupt-but-recoverable data
        jpeg_failure *failure = (jpeg_failure *)cinfo->err;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            failure->saw_end_of_data = 1;
        }
        cinfo->err->num_warnings++;
    }
}

static void on_output_message(j_common_ptr cinfo) {
    (void)cinfo;  // never print to stderr from a server
}

static struct jpeg_error_mgr *install_failure(jpeg_failure *failure) {
    memset(failure, 0, sizeof *failure);
    jpeg_std_error(&failure->pub);
    failure->pub.error_exit = on_error_exit;
    failure->pub.emit_message = on_emit_message;
    failure->pub.output_message = on_output_message;
    failure->status = MNEME_CODEC_OK;
    return &failure->pub;
}

/// Raises an error of our own through the same jump as libjpeg's.
static void fail_with(j_common_ptr cinfo, mneme_codec_status status, const char *text) {
    jpeg_failure *failure = (jpeg_failure *)cinfo->err;
    failure->status = status;
    snprintf(failure->text, sizeof failure->text, "%s", text);
    longjmp(failure->jump, 1);
}

/// libjpeg's progress monitor plus the scan budget it enforces.
typedef struct {
    struct jpeg_progress_mgr pub;
    int max_scans;
} scan_limit;

/// Aborts files with absurd numbers of progressive scans, each of which costs a pass over the image.
static void on_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor) {
        j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
        int max_scans = ((scan_limit *)cinfo->progress)->max_scans;
        if (dinfo->input_scan_number > max_scans) {
            char text[96];
            snprintf(text, sizeof text, "more than %d scans", max_scans);
            fail_with(cinfo, MNEME_CODEC_CORRUPT, text);
        }
    }
}

static void fill_header(const struct jpeg_decompress_struct *cinfo, mneme_image_header *header) {
    header->width = (int)cinfo->image_width;
    header->height = (int)cinfo->image_height;
    header->components = cinfo->num_components;
    header->bit_depth = cinfo->data_precision;
    header->has_alpha = 0;
    header->is_progressive = cinfo->progressive_mode ? 1 : 0;
    header->color_type = (int)cinfo->jpeg_color_space;
}

mneme_codec_status mneme_jpeg_read_header(const uint8_t *data, size_t size, mneme_image_header *header,
                                          char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;

    memset(header, 0, sizeof *header);
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = install_failure(&failure);
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        copy_message(message, message_capacity, failure.text);
        return failure.status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    fill_header(&cinfo, header);
    jpeg_destroy_decompress(&cinfo);
    return MNEME_CODEC_OK;
}

/// Pillow's CMYK -> RGB (Convert.c `cmyk2rgb`): r = (255 - k) - c * (255 - k) / 255 with rounded division.
/// Pillow reads every CMYK JPEG with rawmode "CMYK;I" (Adobe/Photoshop polarity, stored inverted), so the
/// samples libjpeg returns are un-inverted first; YCCK comes out of libjpeg in the same polarity.
static void cmyk_row_to_rgb(const JSAMPLE *in, uint8_t *out, int width) {
    for (int x = 0; x < width; x++, in += 4, out += 3) {
        int nk = in[3];  // 255 - k, with k = 255 - in[3] after un-inverting
        for (int channel = 0; channel < 3; channel++) {
            int value = 255 - in[channel];
            int product = value * nk + 128;
            int scaled = ((product >> 8) + product) >> 8;
            int result = nk - scaled;
            out[channel] = (uint8_t)(result < 0 ? 0 : (result > 255 ? 255 : result));
        }
    }
}

mneme_codec_status mneme_jpeg_decode_rgb(const uint8_t *data, size_t size, int width, int height, int max_scans,
                                         uint8_t *out, size_t out_size, char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    scan_limit progress;
    jpeg_failure failure;
    JSAMPLE *cmyk_row;
    size_t stride;

    if (width <= 0 || height <= 0 || (size_t)width > out_size / 3 / (size_t)height) {
        copy_message(message, message_capacity, "output buffer does not fit the image");
        return MNEME_CODEC_BAD_ARGUMENT;
    }
    stride = (size_t)width * 3;
    // Allocated before setjmp so the pointer is still valid after a longjmp.
    cmyk_row = (JSAMPLE *)malloc((size_t)width * 4);
    if (cmyk_row == NULL) {
        copy_message(message, message_capacity, "out of memory");
        return MNEME_CODEC_OUT_OF_MEMORY;
    }

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = install_failure(&failure);
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(cmyk_row);
        copy_message(message, message_capacity, failure.text);
        return failure.status;
    }
    jpeg_create_decompress(&cinfo);
    memset(&progress, 0, sizeof progress);
    progress.pub.progress_monitor = on_progress;
    progress.max_scans = max_scans;
    cinfo.progress = &progress.pub;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((int)cinfo.image_width != width || (int)cinfo.image_height != height) {
        fail_with((j_common_ptr)&cinfo, MNEME_CODEC_BAD_ARGUMENT, "image size differs from the expected size");
    }

    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        break;
    default: {
        char text[96];
        snprintf(text, sizeof text, "JPEG colour space %d with %d components", (int)cinfo.jpeg_color_space,
                 cinfo.num_components);
        fail_with((j_common_ptr)&cinfo, MNEME_CODEC_UNSUPPORTED, text);
    }
    }

    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_width != width || (int)cinfo.output_height != height ||
        cinfo.output_components != (cinfo.out_color_space == JCS_CMYK ? 4 : 3)) {
        fail_with((j_common_ptr)&cinfo, MNEME_CODEC_UNSUPPORTED, "unexpected decoder output layout");
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JDIMENSION y = cinfo.output_scanline;
        uint8_t *target = out + (size_t)y * stride;
        JSAMPROW row = cinfo.out_color_space == JCS_CMYK ? cmyk_row : (JSAMPROW)target;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            fail_with((j_common_ptr)&cinfo, MNEME_CODEC_CORRUPT, "JPEG decoder made no progress");
        }
        if (cinfo.out_color_space == JCS_CMYK) {
            cmyk_row_to_rgb(cmyk_row, target, width);
        }
    }
    jpeg_finish_decompress(&cinfo);

    // libjpeg pads a truncated stream with a fake EOI and only warns; Pillow refuses such files, so do we.
    int truncated = failure.saw_end_of_data;
    jpeg_destroy_decompress(&cinfo);
    free(cmyk_row);
    if (truncated) {
        copy_message(message, message_capacity, "JPEG data ends before the image does");
        return MNEME_CODEC_TRUNCATED;
    }
    return MNEME_CODEC_OK;
}

/// Where jpeg_mem_dest keeps its growing buffer; on the heap so it survives a longjmp intact.
typedef struct {
    unsigned char *buffer;
    unsigned long size;
} jpeg_memory_sink;

mneme_codec_status mneme_jpeg_encode_rgb(const uint8_t *pixels, int width, int height, int quality,
                                         uint8_t **out, size_t *out_size, char *message, size_t message_capacity) {
    struct jpeg_compress_struct cinfo;
    jpeg_failure failure;
    jpeg_memory_sink *sink;

    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        copy_message(message, message_capacity, "JPEG dimensions must be 1...65500");
        return MNEME_CODEC_BAD_ARGUMENT;
    }
    sink = (jpeg_memory_sink *)calloc(1, sizeof *sink);
    if (sink == NULL) {
        copy_message(message, message_capacity, "out of memory");
        return MNEME_CODEC_OUT_OF_MEMORY;
    }

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = install_failure(&failure);
    if (setjmp(failure.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(sink->buffer);
        free(sink);
        copy_message(message, message_capacity, failure.text);
        return failure.status;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &sink->buffer, &sink->size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        // libjpeg's row type is not const, but compression only reads it.
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);

    *out = sink->buffer;
    *out_size = (size_t)sink->size;
    free(sink);
    return MNEME_CODEC_OK;
}

void mneme_codec_free(void *buffer) {
    free(buffer);
}
