// tether/codec.hpp: the decoder contract shared by every framing codec.
//
// A decoder turns the bytes received on a stream (a Buffer) into frames. Each call to decode()
// has exactly three outcomes (tokio-util's Decoder):
//
//   Result<std::optional<Frame>>
//     value holding a frame   one frame was taken off the front of the buffer; call again, more
//                             frames may be ready
//     value holding nullopt   need more bytes: read from the socket into the buffer, then call again
//     error                   the stream is corrupt (Errc::corrupt_frame, Errc::frame_too_large):
//                             close the connection; the decoder and buffer are no longer usable
//
// When the peer has closed its side (end of stream), call decode_eof() until it returns nullopt:
// it yields the frames still in the buffer and then checks for leftovers: bytes that form no
// complete frame are the error Errc::end_of_stream (a truncated stream), never silently dropped.
//
// Frames are views into the buffer (no copy, no allocation); they stay valid until the buffer is
// next written (Buffer::prepare/append). Decoders keep a little scanning state between calls, so
// one decoder serves one buffer (one connection); they are plain values for one thread at a time.
// Encoders append a frame to an output Buffer.
#pragma once

#include <tether/buffer.hpp>
#include <tether/error.hpp>

#include <concepts>
#include <optional>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

template <class Frame>
using Decoded = Result<std::optional<Frame>>;

/// A framing decoder: the three-outcome decode() and the end-of-stream check decode_eof().
template <class D>
concept Decoder = requires(D& decoder, Buffer& in) {
  typename D::frame_type;
  { decoder.decode(in) } -> std::same_as<Decoded<typename D::frame_type>>;
  { decoder.decode_eof(in) } -> std::same_as<Decoded<typename D::frame_type>>;
};

}  // namespace tether

#pragma GCC visibility pop
