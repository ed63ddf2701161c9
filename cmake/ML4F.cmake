# ML4F.cmake - Keras models compiled by ml4f while the firmware builds.
#
#   include(/path/to/ml4f/cmake/ML4F.cmake)      # after project(... C ASM)
#   ml4f_add_model(firmware models/gesture.h5 FLOAT16)
#
# ml4f_add_model(<target> <model.h5|.keras>
#                [NAME <name>]            generated NAME.h and symbol prefix (default: the file's name)
#                [FLOAT16] [NO_VALIDATE] [TEST_DATA]
#                [OPTIMIZE size|balanced|speed] [MHZ <clock>]
#                [C_ARRAY]                NAME.c (a const array) instead of NAME.S (.incbin)
#                [OUTPUT_DIR <dir>])      default: ${CMAKE_CURRENT_BINARY_DIR}/ml4f
#
# Adds NAME.S (or NAME.c) to the target's sources and the output directory to its include
# path, so `#include "NAME.h"` works.  The model is recompiled on the rules of the ml4f
# SCons Tool: when the model file's content, an option or the compiler's own files change,
# and not otherwise (touching the model recompiles nothing).
#
# ML4F_PYTHON: the Python that has ml4f installed (default: the first python3 found).

cmake_minimum_required(VERSION 3.13)

set(ML4F_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")
if(NOT ML4F_PYTHON)
  find_program(ML4F_PYTHON NAMES python3 python REQUIRED)
endif()

# The compiler's files, for the steps' dependencies: a change to any of them reruns the
# step, which recompiles when their content differs.
execute_process(
  COMMAND "${ML4F_PYTHON}" -c "import ml4f, os; print(os.path.dirname(os.path.abspath(ml4f.__file__)))"
  OUTPUT_VARIABLE ML4F_PACKAGE_DIR OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _ml4f_found)
if(NOT _ml4f_found EQUAL 0)
  message(FATAL_ERROR "ML4F.cmake: ${ML4F_PYTHON} cannot import ml4f; install it "
                      "(pip install ml4f) or set ML4F_PYTHON")
endif()
file(GLOB_RECURSE ML4F_COMPILER_FILES "${ML4F_PACKAGE_DIR}/*.py")

function(ml4f_add_model target model)
  cmake_parse_arguments(ARG "FLOAT16;NO_VALIDATE;TEST_DATA;C_ARRAY" "NAME;OPTIMIZE;MHZ;OUTPUT_DIR" "" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "ml4f_add_model(${target} ${model}): unknown arguments ${ARG_UNPARSED_ARGUMENTS} "
                        "(known: NAME OPTIMIZE MHZ OUTPUT_DIR FLOAT16 NO_VALIDATE TEST_DATA C_ARRAY)")
  endif()
  get_filename_component(model "${model}" ABSOLUTE)
  if(NOT EXISTS "${model}")
    message(FATAL_ERROR "ml4f_add_model(${target}): ${model} does not exist")
  endif()
  if(ARG_NAME)
    set(name "${ARG_NAME}")
  else()
    get_filename_component(stem "${model}" NAME_WE)
    # the compiler's rule for file names that are not C identifiers: 8x8 -> m_8x8
    string(MAKE_C_IDENTIFIER "${stem}" name)
    if(name MATCHES "^_[0-9]")
      string(SUBSTRING "${name}" 1 -1 name)
      set(name "m_${name}")
    endif()
  endif()
  if(ARG_OUTPUT_DIR)
    get_filename_component(dir "${ARG_OUTPUT_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  else()
    set(dir "${CMAKE_CURRENT_BINARY_DIR}/ml4f")
  endif()

  set(options "")
  if(ARG_FLOAT16)
    list(APPEND options --float16)
  endif()
  if(ARG_NO_VALIDATE)
    list(APPEND options --no-validate)
  endif()
  if(ARG_TEST_DATA)
    list(APPEND options --test-data)
  endif()
  if(ARG_OPTIMIZE)
    list(APPEND options --optimize "${ARG_OPTIMIZE}")
  endif()
  if(ARG_MHZ)
    list(APPEND options --mhz "${ARG_MHZ}")
  endif()
  if(ARG_C_ARRAY)
    list(APPEND options --c-array)
    set(linked "${dir}/${name}.c")
  else()
    get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
    if(NOT "ASM" IN_LIST languages)
      message(FATAL_ERROR "ml4f_add_model(${target} ${model}): NAME.S needs the ASM language: "
                          "project(... C ASM), or pass C_ARRAY")
    endif()
    set(linked "${dir}/${name}.S")
  endif()

  # rewritten only when the options change, so that it reruns the step exactly then
  string(REPLACE ";" " " options_text "${options}")
  file(GENERATE OUTPUT "${dir}/${name}.ml4f-options" CONTENT "${options_text}\n")

  add_custom_command(
    OUTPUT "${dir}/${name}.bin" "${dir}/${name}.h" "${linked}" "${dir}/${name}.json"
    COMMAND "${ML4F_PYTHON}" "${ML4F_CMAKE_DIR}/ml4f_step.py" "${dir}/${name}.ml4f-stamp" --
            "${model}" -o "${dir}" -b "${name}" ${options}
    DEPENDS "${model}" "${dir}/${name}.ml4f-options" "${ML4F_CMAKE_DIR}/ml4f_step.py"
            ${ML4F_COMPILER_FILES}
    WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
    VERBATIM)
  target_sources(${target} PRIVATE "${linked}")
  target_include_directories(${target} PRIVATE "${dir}")
  if(NOT ARG_C_ARRAY)
    # .incbin reads NAME.bin; no dependency scanner sees it
    set_source_files_properties("${linked}" PROPERTIES OBJECT_DEPENDS "${dir}/${name}.bin")
  endif()
endfunction()
