#pragma once
// Whole-file reads and crash-safe writes, shared by every module that touches files.
#include <string>

namespace dlcm {

// The file's bytes; throws "PATH: cannot open WHAT" when it cannot be read.
std::string read_file(const std::string& path, const std::string& what = "file");
// Writes beside the target under a temporary name private to this writer (PATH.tmp.<pid>.<random>,
// created O_EXCL), fsyncs it, renames it over the target and fsyncs the directory: after a crash or
// power loss a reader sees the old file or the new one, never half; concurrent writers of one file
// each rename a whole file of their own, and the last rename wins. Every file dlcm writes goes
// through here (or is written under its run directory's lock: log.txt, metrics.sqlite).
void write_file_atomic(const std::string& path, const std::string& bytes);
// fsync of a directory, so a rename inside it survives power loss.
void sync_directory(const std::string& dir);

// Checksummed container for files that must never be trusted when torn (checkpoints): a one-line
// header "dlcm-sealed v1 <payload bytes> <crc32 hex>\n" followed by the payload.
std::string seal(const std::string& payload);
// The payload, or throws "PATH: truncated (...)" / "PATH: checksum mismatch (...)" / "PATH: not a
// sealed dlcm file" naming what was wrong.
std::string unseal(const std::string& bytes, const std::string& path);

}  // namespace dlcm
