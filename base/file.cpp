// write_file_atomic (file.h): temporary file, write, fsync, close, rename, fsync of the folder;
// InputFile: stat, open (O_NONBLOCK), fstat, read.
#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/error.h"

namespace tg {

void write_file_atomic(const std::string& path, std::string_view contents) {
  const char* op = "write_file_atomic";
  TG_CHECK(!path.empty(), op, "no path given");
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  TG_CHECK(fd >= 0, op, "cannot write '", path, "': cannot create the temporary file '", tmp,
           "': ", std::strerror(errno));
  // On any failure: close, remove the temporary file, report; the target is never touched.
  auto fail = [&](const char* step) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    TG_FAIL(op, "cannot write '", path, "': ", step, " '", tmp, "' failed: ", why);
  };
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("writing");
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync of");
  const int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("closing");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("renaming");
  // Make the rename itself durable; a failure here leaves a complete file, so it is ignored.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) ::fsync(dfd), ::close(dfd);
}

namespace {

std::string kind_phrase(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "is a folder, not a file";
  if (S_ISFIFO(mode)) return "is a FIFO (named pipe), not a regular file";
  if (S_ISSOCK(mode)) return "is a socket, not a regular file";
  if (S_ISCHR(mode)) return "is a character device, not a regular file";
  if (S_ISBLK(mode)) return "is a block device, not a regular file";
  return "is not a regular file";
}

// " (a symlink to 'target')" when path is a symlink, else "".
std::string symlink_note(const std::string& path, bool dangling) {
  std::error_code ec;
  if (!std::filesystem::is_symlink(path, ec)) return "";
  const std::string target = std::filesystem::read_symlink(path, ec).string();
  if (ec) return " (a symlink)";
  return " (a symlink to '" + target + (dangling ? "', which does not exist)" : "')");
}

}  // namespace

std::string not_a_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return "no such file" + symlink_note(path, true);
    if (err == ENOTDIR) return "no such file (a part of the path is not a folder)";
    return std::strerror(err);
  }
  const std::string kind = kind_phrase(st.st_mode);
  return kind.empty() ? kind : kind + symlink_note(path, false);
}

InputFile::InputFile(const char* op, const std::string& path) : op_(op), path_(path) {
  const std::string why = not_a_regular_file(path);
  TG_CHECK(why.empty(), op, "cannot open '", path, "': ", why);
  // O_NONBLOCK: should the path have turned into a FIFO since the stat, open must not wait for
  // a writer. It has no effect on reading a regular file.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  TG_CHECK(fd_ >= 0, op, "cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  const bool stat_ok = ::fstat(fd_, &st) == 0;
  const std::string kind = stat_ok ? kind_phrase(st.st_mode) : std::strerror(errno);
  if (!kind.empty()) {
    ::close(fd_);
    fd_ = -1;
    TG_FAIL(op, "cannot open '", path, "': ", kind);
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

size_t InputFile::read(void* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd_, static_cast<char*>(p) + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    TG_CHECK(r >= 0, op_, "cannot read '", path_, "': ", std::strerror(errno));
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

}  // namespace tg
