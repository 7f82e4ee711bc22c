#ifndef GUARDIAN_CSQLITE_SHIM_H
#define GUARDIAN_CSQLITE_SHIM_H
#include <sqlite3.h>

/* sqlite3_db_config is variadic, which Swift does not import. Nothing to link: GRDB links
   libsqlite3. */

/* The connection leaves the write-ahead log as it is when it closes: no checkpoint, no fsync.
   The next connection reads the log, and commits checkpoint it once it passes its limit. */
static inline int guardian_sqlite_no_checkpoint_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}
#endif
