// Prints what shows that the image carries what a dynamically linked C++
// program needs: libstdc++, libm, libc (and its user database) and the
// greeting library from the runfiles.
#include <gnu/libc-version.h>
#include <pwd.h>
#include <unistd.h>

#include <cmath>
#include <iostream>

#include "greeting.h"

int main() {
  std::cout << Greeting("C++") << "\n";
  const struct passwd* user = getpwuid(geteuid());
  std::cout << "user: " << (user ? user->pw_name : "unknown") << " (" << geteuid() << ")\n";
  std::cout << "glibc: " << gnu_get_libc_version() << "\n";
  std::cout << "sqrt(2) = " << std::sqrt(2.0) << "\n";
  return 0;
}
