using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>
/// Marks GLIBCXX version requirements of an ELF64 shared library weak when the machine's libstdc++
/// does not define them. See WeakenGlibcxx.targets for why.
/// </summary>
public class WeakenMissingElfVersions : Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    [Required]
    public string Library { get; set; } = "";

    public override bool Execute()
    {
        var libstdcxx = new[]
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        }.FirstOrDefault(File.Exists);
        if (libstdcxx is null)
        {
            Log.LogMessage(MessageImportance.Low, "No system libstdc++ found; leaving {0} as it is.", Library);
            return true;
        }
        var available = Encoding.ASCII.GetString(File.ReadAllBytes(libstdcxx));
        var bytes = File.ReadAllBytes(Library);
        var changed = new List<string>();
        foreach (var (flagsOffset, name) in VersionNeeds(bytes))
        {
            if (!name.StartsWith("GLIBCXX_", StringComparison.Ordinal) || available.IndexOf(name + "\0", StringComparison.Ordinal) >= 0)
                continue;
            var flags = BitConverter.ToUInt16(bytes, flagsOffset);
            if ((flags & VerFlgWeak) != 0) continue;
            BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(bytes, flagsOffset);
            changed.Add(name);
        }
        if (changed.Count > 0)
        {
            File.WriteAllBytes(Library, bytes);
            Log.LogMessage(MessageImportance.High,
                "Marked {0} weak in {1}: this machine's libstdc++ lacks it.", string.Join(", ", changed), Library);
        }
        return true;
    }

    /// <summary>Yields (file offset of vna_flags, version name) for every Vernaux entry of the library.</summary>
    private static IEnumerable<(int FlagsOffset, string Name)> VersionNeeds(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[4] != 2 /* ELFCLASS64 */) yield break;
        var shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3a), shnum = BitConverter.ToUInt16(elf, 0x3c);
        for (var i = 0; i < shnum; i++)
        {
            var sh = (int)(shoff + i * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            var offset = (int)BitConverter.ToUInt64(elf, sh + 0x18);
            var link = (int)BitConverter.ToUInt32(elf, sh + 0x28);
            var strtab = (int)BitConverter.ToUInt64(elf, (int)(shoff + link * shentsize) + 0x18);
            var need = offset;
            while (true)
            {
                int count = BitConverter.ToUInt16(elf, need + 2);
                var aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (var a = 0; a < count; a++)
                {
                    var nameAt = strtab + (int)BitConverter.ToUInt32(elf, aux + 8);
                    var end = Array.IndexOf(elf, (byte)0, nameAt);
                    yield return (aux + 4, Encoding.ASCII.GetString(elf, nameAt, end - nameAt));
                    var nextAux = BitConverter.ToUInt32(elf, aux + 12);
                    if (nextAux == 0) break;
                    aux += (int)nextAux;
                }
                var next = BitConverter.ToUInt32(elf, need + 12);
                if (next == 0) break;
                need += (int)next;
            }
        }
    }
}
