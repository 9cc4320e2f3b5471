// write_file_atomic (file.h): temporary file, write, fsync, close, rename, fsync of the folder.
#include "base/file.h"

#include <fcntl.h>
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

}  // namespace tg
