# tether_set_warnings(target): the project's warning set, as target options.
function(tether_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wnull-dereference -Wimplicit-fallthrough
    -Wno-missing-field-initializers)  # designated initializers leave defaulted members out
  if(TETHER_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
