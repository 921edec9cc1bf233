#include "greeting.h"

std::string Greeting(const std::string& language) {
  return "Hello from " + language + " in a rules_img image";
}
