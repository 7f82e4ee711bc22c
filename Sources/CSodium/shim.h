#ifndef GUARDIAN_CSODIUM_SHIM_H
#define GUARDIAN_CSODIUM_SHIM_H
#include <sodium.h>
#endif
