#pragma once
// Whole-file reads and crash-safe writes, shared by every module that touches files.
#include <string>

namespace dlcm {

// The file's bytes; throws "PATH: cannot open WHAT" when it cannot be read.
std::string read_file(const std::string& path, const std::string& what = "file");
// Writes beside the target, flushes, then renames: a reader sees the old file or the new one,
// never half of one.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace dlcm
