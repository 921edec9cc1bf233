#ifndef E2E_CC_GREETING_H_
#define E2E_CC_GREETING_H_

#include <string>

// Greeting says hello from the named language.
std::string Greeting(const std::string& language);

#endif  // E2E_CC_GREETING_H_
