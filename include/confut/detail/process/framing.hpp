#pragma once
// Length-prefixed frames over a stream socket: [u64 size][size bytes]. The worker side reads
// and writes blocking; the parent side never blocks (it serves many workers from one thread).

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../remote/protocol.hpp"

namespace confut::detail {

/// Collects incoming bytes and cuts them into frames.
class FrameReader {
 public:
  /// Reads what is available. Returns the bytes read, 0 at end of stream, -1 when the read
  /// would block (non-blocking sockets) or failed.
  long read_from(int fd) {
    if (buffer_.size() - end_ < kMinRoom) grow();
    const ssize_t n = ::read(fd, buffer_.data() + end_, buffer_.size() - end_);
    if (n > 0) end_ += static_cast<std::size_t>(n);
    if (n == 0) return 0;
    if (n < 0) return -1;
    return static_cast<long>(n);
  }

  /// The next complete frame, if any; valid until the next read_from.
  bool next(const std::byte*& data, std::size_t& size) {
    if (end_ - begin_ < kFrameHeader) return false;
    std::uint64_t length = 0;
    std::memcpy(&length, buffer_.data() + begin_, kFrameHeader);
    if (end_ - begin_ < kFrameHeader + length) {
      wanted_ = kFrameHeader + length;  // make room for all of it at the next read
      return false;
    }
    data = buffer_.data() + begin_ + kFrameHeader;
    size = static_cast<std::size_t>(length);
    begin_ += kFrameHeader + size;
    return true;
  }

 private:
  static constexpr std::size_t kMinRoom = 64 * 1024;

  void grow() {
    // Slide the unread bytes to the front, then make room for a whole frame if one is known.
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    const std::size_t needed = std::max(end_ + kMinRoom, wanted_);
    if (buffer_.size() < needed) buffer_.resize(std::max(needed, buffer_.size() * 2));
  }

  std::vector<std::byte> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t wanted_ = 0;
};

/// Outgoing frames not yet fully written.
class FrameWriter {
 public:
  /// Appends a frame; `payload` is moved in. The size header is added here.
  void push(std::vector<std::byte> frame_with_room_for_header) {
    const std::uint64_t length = frame_with_room_for_header.size() - kFrameHeader;
    std::memcpy(frame_with_room_for_header.data(), &length, kFrameHeader);
    frames_.push_back(std::move(frame_with_room_for_header));
  }

  /// Writes as much as the socket takes. Returns false on a write error (a dead peer).
  bool flush(int fd) {
    while (!frames_.empty()) {
      iovec parts[64];
      int count = 0;
      std::size_t offset = offset_;
      for (auto it = frames_.begin(); it != frames_.end() && count < 64; ++it) {
        parts[count].iov_base = it->data() + offset;
        parts[count].iov_len = it->size() - offset;
        offset = 0;
        ++count;
      }
      msghdr message{};
      message.msg_iov = parts;
      message.msg_iovlen = static_cast<decltype(message.msg_iovlen)>(count);
      // MSG_NOSIGNAL: a worker that died must show up as an error here, not as a SIGPIPE
      // that kills the parent.
      const ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      std::size_t written = static_cast<std::size_t>(n);
      while (written > 0) {
        const std::size_t left = frames_.front().size() - offset_;
        if (written < left) {
          offset_ += written;
          written = 0;
        } else {
          written -= left;
          frames_.pop_front();
          offset_ = 0;
        }
      }
    }
    return true;
  }

  bool empty() const noexcept { return frames_.empty(); }
  void clear() noexcept {
    frames_.clear();
    offset_ = 0;
  }

 private:
  std::deque<std::vector<std::byte>> frames_;
  std::size_t offset_ = 0;
};

/// Blocking write of a whole buffer (worker side).
inline bool write_all(int fd, const std::byte* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace confut::detail
