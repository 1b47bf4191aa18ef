using System.Text.Json.Serialization;

namespace ReconService.Models;

/// <summary>
/// Reads and writes an enum by its string spelling only (<c>[JsonStringEnumMemberName]</c> or the C# name):
/// integers such as <c>3</c> or <c>"3"</c> are rejected, so a typo can't silently select another value.
/// </summary>
/// <typeparam name="TEnum">The enum.</typeparam>
public sealed class StrictEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(namingPolicy: null, allowIntegerValues: false)
    where TEnum : struct, Enum;
