// Files written whole and atomically, the one writer of every file tapegrad produces
// (checkpoints, IDX files, CSV, SVG, JSON).
//
//   tg::write_file_atomic("out/history.csv", text);
//
// The bytes go to a temporary file in the target's folder, which is flushed (fsync), closed and
// renamed over the target, and the folder is synced: a reader sees the old file or the whole
// new one, never a part, and a failure (a full disk, a missing folder) leaves the target as it
// was, removes the temporary file and throws a tg::Error naming the path and the cause.
#pragma once

#include <string>
#include <string_view>

namespace tg {

void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace tg
