"""SCons tool: arm-none-eabi GCC for bare-metal Cortex-M4F (hard float), newlib-nano with
semihosting (printf reaches the debugger or QEMU).  Loaded automatically from site_scons/."""
import os

MACHINE = ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"]


def generate(env):
    for tool in ("gcc", "gnulink", "as", "ar"):
        env.Tool(tool)
    prefix = env.get("CROSS_PREFIX", "arm-none-eabi-")
    env.Replace(CC=prefix + "gcc", LINK=prefix + "gcc", AS=prefix + "as", AR=prefix + "ar",
                RANLIB=prefix + "ranlib", OBJCOPY=prefix + "objcopy", SIZE=prefix + "size",
                PROGSUFFIX=".elf")
    env.AppendENVPath("PATH", os.environ.get("PATH", ""))
    env.Append(
        CCFLAGS=MACHINE + ["-O2", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra"],
        CFLAGS=["-std=c11"],
        ASFLAGS=MACHINE,
        LINKFLAGS=MACHINE + ["-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs",
                             "-u", "_printf_float", "-Wl,--gc-sections"],
        LIBS=["m"],
    )


def exists(env):
    return env.Detect(env.get("CROSS_PREFIX", "arm-none-eabi-") + "gcc")
