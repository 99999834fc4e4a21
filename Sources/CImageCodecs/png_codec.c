// libpng wrapper: setjmp-based error handling, in-memory decode and encode.
#include "CImageCodecs.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

/// Where to jump on a fatal libpng error and what to report.
typedef struct {
    jmp_buf jump;
    mneme_codec_status status;
    char text[256];
} png_failure;

/// The encoded bytes being read; `position` advances as libpng consumes them.
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
} png_source;

/// The encoded bytes being written.
typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} png_sink;

static void copy_message(char *message, size_t capacity, const char *text) {
    if (message != NULL && capacity > 0) {
        snprintf(message, capacity, "%s", text);
    }
}

static void on_png_error(png_structp png, png_const_charp text) {
    png_failure *failure = (png_failure *)png_get_error_ptr(png);
    // Keep a more specific status set before png_error was called (truncation, out of memory).
    if (failure->status == MNEME_CODEC_OK) {
        failure->status = MNEME_CODEC_CORRUPT;
        snprintf(failure->text, sizeof failure->text, "%s", text);
    }
    longjmp(failure->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp text) {
    (void)png;  // recoverable (ancillary chunk CRC, extra data, ...): never print from a server
    (void)text;
}

static void fail_with(png_structp png, mneme_codec_status status, const char *text) {
    png_failure *failure = (png_failure *)png_get_error_ptr(png);
    failure->status = status;
    snprintf(failure->text, sizeof failure->text, "%s", text);
    png_error(png, text);
}

static void read_from_memory(png_structp png, png_bytep target, size_t length) {
    png_source *source = (png_source *)png_get_io_ptr(png);
    if (length > source->size - source->position) {
        fail_with(png, MNEME_CODEC_TRUNCATED, "PNG data ends before the image does");
    }
    memcpy(target, source->data + source->position, length);
    source->position += length;
}

static void write_to_memory(png_structp png, png_bytep bytes, size_t length) {
    png_sink *sink = (png_sink *)png_get_io_ptr(png);
    if (length > sink->capacity - sink->size) {
        size_t capacity = sink->capacity > 0 ? sink->capacity : 4096;
        while (capacity - sink->size < length) {
            if (capacity > SIZE_MAX / 2) {
                fail_with(png, MNEME_CODEC_OUT_OF_MEMORY, "PNG output too large");
            }
            capacity *= 2;
        }
        uint8_t *grown = (uint8_t *)realloc(sink->data, capacity);
        if (grown == NULL) {
            fail_with(png, MNEME_CODEC_OUT_OF_MEMORY, "out of memory");
        }
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, length);
    sink->size += length;
}

static void flush_memory(png_structp png) {
    (void)png;
}

static void fill_header(png_structp png, png_infop info, mneme_image_header *header) {
    int color_type = png_get_color_type(png, info);
    header->width = (int)png_get_image_width(png, info);
    header->height = (int)png_get_image_height(png, info);
    header->components = png_get_channels(png, info);
    header->bit_depth = png_get_bit_depth(png, info);
    header->has_alpha =
        ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0) ? 1 : 0;
    header->is_progressive = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE ? 1 : 0;
    header->color_type = color_type;
}

/// Reads the header and, when `out` is not NULL, decodes the pixels into it (see the header file).
static mneme_codec_status png_read(const uint8_t *data, size_t size, mneme_image_header *header, int keep_alpha,
                                   uint8_t *out, size_t out_size, int *channels_out,
                                   char *message, size_t message_capacity) {
    png_failure failure;
    png_source source = {data, size, 0};
    png_structp png;
    png_infop info;
    png_bytep *volatile rows = NULL;

    memset(&failure, 0, sizeof failure);
    failure.status = MNEME_CODEC_OK;
    if (out != NULL) {
        // Row pointers depend only on the expected size, so they are set up before setjmp.
        if (header->width <= 0 || header->height <= 0 ||
            (size_t)header->width > out_size / 3 / (size_t)header->height) {
            copy_message(message, message_capacity, "output buffer does not fit the image");
            return MNEME_CODEC_BAD_ARGUMENT;
        }
        rows = (png_bytep *)malloc((size_t)header->height * sizeof(png_bytep));
        if (rows == NULL) {
            copy_message(message, message_capacity, "out of memory");
            return MNEME_CODEC_OUT_OF_MEMORY;
        }
    }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, on_png_error, on_png_warning);
    info = png == NULL ? NULL : png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        free(rows);
        copy_message(message, message_capacity, "out of memory");
        return MNEME_CODEC_OUT_OF_MEMORY;
    }
    if (setjmp(failure.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        copy_message(message, message_capacity, failure.text);
        return failure.status;
    }
    png_set_read_fn(png, &source, read_from_memory);
    png_read_info(png, info);

    if (out == NULL) {
        fill_header(png, info, header);
        png_destroy_read_struct(&png, &info, NULL);
        return MNEME_CODEC_OK;
    }

    if ((int)png_get_image_width(png, info) != header->width ||
        (int)png_get_image_height(png, info) != header->height) {
        fail_with(png, MNEME_CODEC_BAD_ARGUMENT, "image size differs from the expected size");
    }
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    int with_alpha = keep_alpha && ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || has_trns);

    // The same reductions Pillow makes: high byte of 16-bit samples, grey 1/2/4-bit scaled to 8 bits.
    if (bit_depth == 16) {
        png_set_strip_16(png);
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
    }
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (has_trns) {
        // Palette expansion turns tRNS into alpha anyway; do it for every type, then strip it if unwanted.
        png_set_tRNS_to_alpha(png);
    }
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_gray_to_rgb(png);
    }
    if (!with_alpha && ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || has_trns)) {
        png_set_strip_alpha(png);  // keeps the stored colours, as Pillow's convert("RGB") does
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (channels != (with_alpha ? 4 : 3) || png_get_bit_depth(png, info) != 8 ||
        row_bytes != (size_t)header->width * (size_t)channels ||
        row_bytes > out_size / (size_t)header->height) {
        fail_with(png, MNEME_CODEC_UNSUPPORTED, "unexpected decoder output layout");
    }
    for (int y = 0; y < header->height; y++) {
        rows[y] = out + (size_t)y * row_bytes;
    }
    png_read_image(png, rows);
    // The trailing chunks (and IEND) carry no pixels; Pillow does not insist on them either.
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *channels_out = channels;
    return MNEME_CODEC_OK;
}

mneme_codec_status mneme_png_read_header(const uint8_t *data, size_t size, mneme_image_header *header,
                                         char *message, size_t message_capacity) {
    memset(header, 0, sizeof *header);
    return png_read(data, size, header, 0, NULL, 0, NULL, message, message_capacity);
}

mneme_codec_status mneme_png_decode(const uint8_t *data, size_t size, int width, int height, int keep_alpha,
                                    uint8_t *out, size_t out_size, int *channels_out,
                                    char *message, size_t message_capacity) {
    mneme_image_header expected;
    memset(&expected, 0, sizeof expected);
    expected.width = width;
    expected.height = height;
    *channels_out = 0;
    if (out == NULL) {
        copy_message(message, message_capacity, "no output buffer");
        return MNEME_CODEC_BAD_ARGUMENT;
    }
    return png_read(data, size, &expected, keep_alpha, out, out_size, channels_out, message, message_capacity);
}

mneme_codec_status mneme_png_encode_rgb(const uint8_t *pixels, int width, int height,
                                        uint8_t **out, size_t *out_size, char *message, size_t message_capacity) {
    png_failure failure;
    png_sink *sink;
    png_structp png;
    png_infop info;

    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0) {
        copy_message(message, message_capacity, "PNG dimensions must be positive");
        return MNEME_CODEC_BAD_ARGUMENT;
    }
    // On the heap and allocated before setjmp, so its contents are reliable after a longjmp.
    sink = (png_sink *)calloc(1, sizeof *sink);
    if (sink == NULL) {
        copy_message(message, message_capacity, "out of memory");
        return MNEME_CODEC_OUT_OF_MEMORY;
    }
    memset(&failure, 0, sizeof failure);
    failure.status = MNEME_CODEC_OK;
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, on_png_error, on_png_warning);
    info = png == NULL ? NULL : png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        free(sink);
        copy_message(message, message_capacity, "out of memory");
        return MNEME_CODEC_OUT_OF_MEMORY;
    }
    if (setjmp(failure.jump)) {
        png_destroy_write_struct(&png, &info);
        free(sink->data);
        free(sink);
        copy_message(message, message_capacity, failure.text);
        return failure.status;
    }
    png_set_write_fn(png, sink, write_to_memory, flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) {
        png_write_row(png, pixels + (size_t)y * (size_t)width * 3);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);

    *out = sink->data;
    *out_size = sink->size;
    free(sink);
    return MNEME_CODEC_OK;
}
