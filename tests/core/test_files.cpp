// Sealed files (checkpoints): every truncation and every single-bit flip is caught before the
// payload is used; atomic writes leave the old file or the new one, and no temporary behind.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/files.hpp"
#include "test_util.hpp"

using namespace dlcm;

TEST(Sealed, RoundTripsAnyBytes) {
  std::string payload;
  for (int i = 0; i < 1000; ++i) payload += static_cast<char>(i * 37);  // NULs and newlines included
  EXPECT_EQ(unseal(seal(payload), "f"), payload);
  EXPECT_EQ(unseal(seal(""), "f"), "");
}

TEST(Sealed, EveryTruncationAndEveryBitFlipIsRejected) {
  const std::string payload("model weights\n\0 and optimizer state", 35);
  const std::string sealed = seal(payload);
  for (size_t n = 0; n < sealed.size(); ++n)
    EXPECT_THROW(unseal(sealed.substr(0, n), "ckpt"), std::runtime_error) << "truncated to " << n;
  const size_t header = sealed.find('\n') + 1;  // payload bits: the header's own damage is a truncation
                                                 // or a mismatch too, except harmless hex-case flips
  for (size_t i = header; i < sealed.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = sealed;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_THROW(unseal(bad, "ckpt"), std::runtime_error) << "byte " << i << " bit " << bit;
    }
  EXPECT_THROW(unseal(sealed + "x", "ckpt"), std::runtime_error);  // trailing bytes too
}

TEST(Sealed, ErrorsNameTheFileAndTheFault) {
  const std::string sealed = seal("abcdef");
  auto message = [](const std::string& bytes) {
    try {
      unseal(bytes, "run/checkpoint.pt");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(sealed.substr(0, sealed.size() - 2)).rfind("run/checkpoint.pt: truncated or torn", 0), 0u);
  std::string flipped = sealed;
  flipped.back() ^= 1;
  EXPECT_EQ(message(flipped).rfind("run/checkpoint.pt: checksum mismatch", 0), 0u);
  EXPECT_EQ(message("PK\x03\x04 zip").rfind("run/checkpoint.pt: not a sealed dlcm file", 0), 0u);
}

TEST(AtomicWrite, ReplacesTheFileAndLeavesNoTemporary) {
  const auto dir = test::temp_dir("atomic");
  const auto path = (dir / "result.json").string();
  write_file_atomic(path, "old");
  write_file_atomic(path, "new");
  EXPECT_EQ(read_file(path), "new");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
  std::filesystem::remove_all(dir);
}
