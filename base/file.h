// Files written whole and atomically, the one writer of every file tapegrad produces
// (checkpoints, IDX files, CSV, SVG, JSON).
//
//   tg::write_file_atomic("out/history.csv", text);
//
// The bytes go to a temporary file in the target's folder, which is flushed (fsync), closed and
// renamed over the target, and the folder is synced: a reader sees the old file or the whole
// new one, never a part, and a failure (a full disk, a missing folder) leaves the target as it
// was, removes the temporary file and throws a tg::Error naming the path and the cause.
//
// Reading goes through InputFile, which opens regular files only and says what a path really
// is otherwise: a missing file, a folder, a FIFO, a device (a symlink to /dev/zero, say).
//
//   tg::InputFile f("load", path);   // tg::Error "load: cannot open 'x': is a folder, not a file"
//   std::string head(16, '\0');
//   head.resize(f.read(head.data(), head.size()));
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tg {

void write_file_atomic(const std::string& path, std::string_view contents);

// Why `path` cannot be read as a regular file, or "" when it can (a regular file, or a symlink
// to one): "no such file", "is a folder, not a file", "is a FIFO (named pipe), not a regular
// file", "is a character device, not a regular file", ... (with "(a symlink to 'T')" when it
// is one), or the system's reason (permission denied ...). Only stat()s: never opens, never
// blocks.
std::string not_a_regular_file(const std::string& path);

// A regular file open for reading. The constructor checks the kind first
// (not_a_regular_file) and opens with O_NONBLOCK, then checks the open file again, so a path
// that is or becomes a FIFO can never block the reader; any problem is a tg::Error from `op`:
// "op: cannot open 'path': <why>".
class InputFile {
 public:
  InputFile(const char* op, const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  uint64_t size() const { return size_; }  // the file's size when it was opened
  // Reads up to n bytes into p, fewer only at the end of the file; a read error is a tg::Error.
  size_t read(void* p, size_t n);

 private:
  const char* op_;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace tg
