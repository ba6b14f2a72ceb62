// "Did you mean ...?" for a misspelt parameter or hook point name.

#ifndef RUNSCRIPT_SPELLING_H
#define RUNSCRIPT_SPELLING_H

#include <string>
#include <vector>

namespace runscript {

// Closest candidate for a misspelt name, or "" when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace runscript

#endif  // RUNSCRIPT_SPELLING_H
