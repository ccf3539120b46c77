#include "core/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace dlcm {

namespace {
constexpr const char* kSealMagic = "dlcm-sealed v1 ";

uint32_t crc32_of(const std::string& s) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large payloads in pieces.
  for (size_t off = 0; off < s.size(); off += 1u << 30) {
    const size_t n = std::min<size_t>(s.size() - off, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(s.data() + off), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

std::string private_temp_name(const std::string& path) {
  // pid + random: two writers (processes or threads) of one target never share a temporary, and a
  // crashed writer's leftover never collides with the next one's.
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ (static_cast<uint64_t>(getpid()) << 32) ^
                                          reinterpret_cast<uintptr_t>(&rng));
  return fmt::format("{}.tmp.{}.{:016x}", path, getpid(), rng());
}

}  // namespace

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open {}", path, what));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void sync_directory(const std::string& dir) {
  const int fd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // nothing to sync we could open: the rename itself already happened
  fsync(fd);
  close(fd);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = private_temp_name(path);
  // O_EXCL: the name is ours alone, or the write fails rather than sharing it.
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot write: {}", tmp, std::strerror(errno)));
  auto fail = [&](const std::string& what) {
    const std::string why = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error(fmt::format("{}: {}: {}", tmp, what, why));
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      fail("write failed");
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    close(fd);
    fail("write failed");
  }
  if (close(fd) != 0) fail("write failed");
  if (rename(tmp.c_str(), path.c_str()) != 0) fail(fmt::format("cannot rename to {}", path));
  sync_directory(std::filesystem::path(path).parent_path().string());
}

std::string seal(const std::string& payload) {
  return fmt::format("{}{} {:08x}\n", kSealMagic, payload.size(), crc32_of(payload)) + payload;
}

std::string unseal(const std::string& bytes, const std::string& path) {
  const size_t magic = std::strlen(kSealMagic);
  const size_t eol = bytes.find('\n');
  if (bytes.compare(0, magic, kSealMagic) != 0 || eol == std::string::npos || eol > 64)
    throw std::runtime_error(fmt::format("{}: not a sealed dlcm file (no checksum header)", path));
  size_t size = 0;
  unsigned crc = 0;
  if (std::sscanf(bytes.c_str() + magic, "%zu %x", &size, &crc) != 2)
    throw std::runtime_error(fmt::format("{}: malformed checksum header", path));
  const size_t have = bytes.size() - eol - 1;
  if (have != size)
    throw std::runtime_error(fmt::format("{}: truncated or torn (header says {} bytes, found {})", path, size, have));
  std::string payload = bytes.substr(eol + 1);
  const uint32_t actual = crc32_of(payload);
  if (actual != crc)
    throw std::runtime_error(fmt::format("{}: checksum mismatch (crc32 {:08x}, header says {:08x})", path, actual, crc));
  return payload;
}

}  // namespace dlcm
