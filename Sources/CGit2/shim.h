#ifndef GUARDIAN_CGIT2_SHIM_H
#define GUARDIAN_CGIT2_SHIM_H
#include <git2.h>

/* Option structs are initialised through their *_VERSION macros, which Swift
   does not import; these helpers give Swift a function to call instead. */
static inline int guardian_git_clone_options_init(git_clone_options *opts) {
    return git_clone_options_init(opts, GIT_CLONE_OPTIONS_VERSION);
}
static inline int guardian_git_diff_options_init(git_diff_options *opts) {
    return git_diff_options_init(opts, GIT_DIFF_OPTIONS_VERSION);
}
static inline int guardian_git_fetch_options_init(git_fetch_options *opts) {
    return git_fetch_options_init(opts, GIT_FETCH_OPTIONS_VERSION);
}
static inline int guardian_git_diff_find_options_init(git_diff_find_options *opts) {
    return git_diff_find_options_init(opts, GIT_DIFF_FIND_OPTIONS_VERSION);
}
static inline int guardian_git_remote_create_options_init(git_remote_create_options *opts) {
    return git_remote_create_options_init(opts, GIT_REMOTE_CREATE_OPTIONS_VERSION);
}
static inline int guardian_git_remote_connect_options_init(git_remote_connect_options *opts) {
    return git_remote_connect_options_init(opts, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
}
/* git_libgit2_opts is variadic, which Swift does not import. */
static inline int guardian_git_limit_memory(size_t mapped_limit, ssize_t cache_max) {
    int e = git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, mapped_limit);
    if (e != 0) return e;
    return git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, cache_max);
}

/* The bytes in libgit2's object cache now, over all repositories, and the most it allows. */
static inline int guardian_git_cached_memory(ssize_t *current, ssize_t *allowed) {
    return git_libgit2_opts(GIT_OPT_GET_CACHED_MEMORY, current, allowed);
}
#endif
