"""cm4qemu: PlatformIO builder for bare-metal Cortex-M4F firmware run in QEMU.

Toolchain: arm-none-eabi-* from PATH (e.g. Debian's gcc-arm-none-eabi), or the
optional `toolchain-gccarmnoneeabi` package named with `platform_packages`.
Targets: the default build, `size`, and `exec` (run the firmware in QEMU with
semihosting; the firmware's exit code becomes the command's).
"""
import os

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment, Value  # noqa: F401

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()
PLATFORM_DIR = platform.get_dir()

toolchain_dir = platform.get_package_dir("toolchain-gccarmnoneeabi")
if toolchain_dir and os.path.isdir(os.path.join(toolchain_dir, "bin")):
    env.PrependENVPath("PATH", os.path.join(toolchain_dir, "bin"))

env.Replace(
    AR="arm-none-eabi-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-ranlib",
    SIZETOOL="arm-none-eabi-size",
    # Link with the C driver even when C++ sources are present: bare-metal
    # toolchains often ship without libstdc++, and firmware for this platform
    # uses C++ only as a language (no exceptions, RTTI or C++ library).
    LINK="$CC",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.rodata|\.ARM\.exidx|\.data|\.init_array|\.fini_array|\.preinit_array)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\._user_heap_stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
)

machine_flags = [
    "-mthumb",
    "-mcpu=%s" % board.get("build.cpu", "cortex-m4"),
    "-mfpu=%s" % board.get("build.fpu", "fpv4-sp-d16"),
    "-mfloat-abi=%s" % board.get("build.float_abi", "hard"),
]
env.Append(
    ASFLAGS=machine_flags,
    ASPPFLAGS=["-x", "assembler-with-cpp"],
    CCFLAGS=machine_flags + ["-Os", "-ffunction-sections", "-fdata-sections", "-Wall"],
    CXXFLAGS=["-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"],
    CPPDEFINES=[("F_CPU", "$BOARD_F_CPU")],
    CPPPATH=[os.path.join(PLATFORM_DIR, "runtime")],
    LINKFLAGS=machine_flags + [
        "-Wl,--gc-sections", "-nostartfiles",
        "--specs=nano.specs", "--specs=rdimon.specs", "-u", "_printf_float",
        "-Wl,-Map,${BUILD_DIR}/${PROGNAME}.map",
    ],
    LIBS=["m"],
    BUILDERS=dict(
        ElfToBin=Builder(action=env.VerboseAction(
            "$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"), suffix=".bin"),
    ),
)


# ---- linker script from the board manifest ---------------------------------
def _ld_values():
    return {
        "@BOARD@": env.subst("$BOARD"),
        "@FLASH_ORIGIN@": board.get("build.flash_origin", "0x08000000"),
        "@FLASH_SIZE@": str(board.get("upload.maximum_size")),
        "@RAM_ORIGIN@": board.get("build.ram_origin", "0x20000000"),
        "@RAM_SIZE@": str(board.get("upload.maximum_ram_size")),
    }


def _gen_ldscript(target, source, env):
    with open(source[0].get_abspath()) as fh:
        text = fh.read()
    for key, val in source[1].read().items():
        text = text.replace(key, val)
    with open(target[0].get_abspath(), "w") as fh:
        fh.write(text)


custom_ld = board.get("build.ldscript", "")
if custom_ld:
    env.Replace(LDSCRIPT_PATH=custom_ld)
else:
    ldscript = env.Command(
        os.path.join("$BUILD_DIR", "cm4qemu.ld"),
        [os.path.join(PLATFORM_DIR, "ldscripts", "cortexm.ld.in"), Value(_ld_values())],
        env.VerboseAction(_gen_ldscript, "Generating $TARGET"))
    env.Replace(LDSCRIPT_PATH=ldscript[0].get_abspath())

# ---- start-up code (vector table, FPU enable, semihosting exit) ------------
env.BuildSources(os.path.join("$BUILD_DIR", "cm4rt"), os.path.join(PLATFORM_DIR, "runtime"))

# ---- targets ----------------------------------------------------------------
target_elf = env.BuildProgram()
if not custom_ld:
    env.Depends(target_elf, ldscript)
target_bin = env.ElfToBin(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)
env.Depends(target_bin, "checkprogsize")

AlwaysBuild(env.Alias("nobuild", target_elf))
target_buildprog = env.Alias("buildprog", [target_elf, target_bin], target_elf)

env.AddPlatformTarget(
    "size", target_elf,
    env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"),
    "Program Size", "Calculate program size")

qemu_machine = board.get("qemu.machine", "")
env.Replace(
    QEMU="qemu-system-arm",
    QEMUFLAGS=["-M", qemu_machine, "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native", "-kernel"],
)
env.AddPlatformTarget(
    "exec", target_elf,
    env.VerboseAction("$QEMU $QEMUFLAGS $SOURCE", "Running $SOURCE in QEMU (%s)" % qemu_machine),
    "Run in QEMU", "Run the firmware in qemu-system-arm with semihosting")

Default([target_buildprog, target_bin])
